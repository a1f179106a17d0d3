"""What the forecast's figures mean: sell-out events, incremental GMV and its attribution,
proportions of replications, risk figures per replication, the daily cycle, ring addresses."""

from __future__ import annotations

import datetime as dt

import pytest

from sim.replication import build, run_replication
from sim.runner import forecast
from sim.scenario import load_scenario
from sim.summary import pool_risk, stats, wilson
from tests.sim.conftest import FLAT_DAY, poisson_text

# --- sell-out ---------------------------------------------------------------------------------


def test_quota_sellout_is_the_claim_that_issues_the_last_coupon(write_scenario) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario(write_scenario(poisson_text(quota=30)))
    result = run_replication(scenario.raw, seed=4)
    stock = result["stocks"]["s"]
    hourly = [row for row in result["timeseries"] if row[0] == "s"]
    sold_hour = next(row[1] for row in hourly if row[6] == 0)  # quota_left reaches 0
    assert stock["claims"] == 30 and stock["sellout_probability"] == 1.0
    assert int(stock["sellout_time_s"] // 3600) == sold_hour
    assert stock["budget_exhausted_probability"] == 0.0  # the budget never refused a claim


def test_a_budget_refusal_is_its_own_event_and_budget_comes_back_after_expiries(
    write_scenario,
) -> None:  # type: ignore[no-untyped-def]
    # budget for 3 coupons at a time, valid 1 day, nobody uses them: the budget refuses claims,
    # then each expiry releases 10 yuan and later claims are issued again
    text = poisson_text(quota=1000, budget=3000, claim=0.0001, redeem=0.0, validity=1, days=5)
    result = run_replication(load_scenario(write_scenario(text)).raw, seed=2)
    stock = result["stocks"]["s"]
    assert stock["budget_exhausted_probability"] == 1.0 and stock["budget_refused_claims"] > 0
    assert stock["claims"] > 3  # issued again after the first refusal
    last_claim_hour = max(row[1] for row in result["timeseries"] if row[2] > 0)
    assert stock["budget_exhausted_time_s"] < last_claim_hour * 3600
    assert stock["sellout_probability"] == 0.0 and stock["sellout_time_s"] is None


def test_the_headline_sellout_is_the_flagship_stocks(write_scenario) -> None:  # type: ignore[no-untyped-def]
    one = poisson_text(quota=20)
    second = one.split("[[segments]]")[0].split("[[stocks]]")[1]
    second = second.replace('"s"', '"t"').replace("quota = 20", "quota = 100000")
    text = one.replace("[[segments]]", f"[[stocks]]{second}[[segments]]")
    text = text.replace("days = 1\n", 'days = 1\nflagship_stock = "t"\n', 1)
    result = run_replication(load_scenario(write_scenario(text)).raw, seed=1)
    assert result["stocks"]["s"]["sellout_probability"] == 1.0  # the small stock sells out…
    assert result["metrics"]["sellout_probability"] == 0.0  # …the headline names t, which does not
    assert result["metrics"]["sellout_time_s"] is None


# --- incremental GMV --------------------------------------------------------------------------


def newcomers(attribution_days: float, activation: float = 0.0, delay: str = "") -> str:
    """New customers only, who spend a purchase a day once active."""
    text = poisson_text(quota=100_000, size=20_000, claim=0.05, redeem=1.0, days=7)
    text = text.replace('kind = "regular"', 'kind = "new"').replace(
        "purchases_per_week = 0.0", "activated_purchases_per_week = 7.0"
    )
    extra = (
        f"attribution_days = {attribution_days}\norganic_activation_probability = {activation}\n"
    )
    return text + extra + (f"organic_activation_delay = {delay}\n" if delay else "")


def test_spend_after_a_first_use_counts_only_within_the_attribution_window(write_scenario) -> None:  # type: ignore[no-untyped-def]
    runs = {
        days: forecast(load_scenario(write_scenario(newcomers(days), f"{days}.toml")), 2, seed=3)
        for days in (0, 3, 14)
    }
    follow = {
        d: r["summary"]["metrics"]["incremental_follow_on_gmv_fen"]["mean"] for d, r in runs.items()
    }
    assert follow[0] == 0 < follow[3] < follow[14]
    for outcome in runs.values():
        for r in outcome["results"]:
            m = r["metrics"]
            parts = m["incremental_order_gmv_fen"] + m["incremental_follow_on_gmv_fen"]
            assert abs(m["incremental_gmv_fen"] - parts) <= 1  # each part rounded to the fen


def test_customers_who_start_anyway_are_not_credited_to_the_campaign(write_scenario) -> None:  # type: ignore[no-untyped-def]
    # everyone starts spending on the first day without any coupon: a coupon creates no new
    # customer and no follow-on spend; it can only replace or enlarge purchases
    early = '{dist = "fixed", value_s = 0}'
    text = newcomers(30, activation=1.0, delay=early)
    metrics = forecast(load_scenario(write_scenario(text)), 2, seed=3)["summary"]["metrics"]
    assert metrics["redemptions"]["mean"] > 100
    assert metrics["incremental_active_customers"]["mean"] == 0
    assert metrics["incremental_follow_on_gmv_fen"]["mean"] == 0
    assert metrics["counterfactual_active_customers"]["mean"] == 20_000


# --- statistics -------------------------------------------------------------------------------


def test_a_probability_gets_a_wilson_interval_and_observed_percentiles() -> None:
    summary = stats([1, 1, 0], proportion=True)
    low, high = summary["ci95"]
    assert 0 <= low < 2 / 3 < high <= 1  # Student t would give [-0.77, 2.10]
    assert low == pytest.approx(0.2077, abs=1e-4) and high == pytest.approx(0.9385, abs=1e-4)
    assert {summary["p5"], summary["p50"], summary["p95"]} <= {0, 1}
    assert summary["p50"] == 1
    assert stats([1], proportion=True)["ci95"] == [pytest.approx(0.206549, abs=1e-6), 1]
    assert wilson(0, 20)[0] == 0 and wilson(20, 20)[1] == 1


def test_sellout_probability_in_a_summary_is_a_proportion(write_scenario) -> None:  # type: ignore[no-untyped-def]
    summary = forecast(load_scenario(write_scenario(poisson_text(quota=30))), 2, seed=1)["summary"]
    sellout = summary["metrics"]["sellout_probability"]
    assert sellout["mean"] == 1 and sellout["ci95"][1] == 1 and 0 < sellout["ci95"][0] < 1


def test_risk_figures_are_per_replication() -> None:
    def evaluation(tp: int, fp: int, saved: int) -> dict[str, object]:
        rule = {"tp": tp, "fp": fp, "fn": 10, "tn": 1000, "flags": tp + fp,
                "money_saved_fen": saved, "precision": 0.0, "shadow": False}  # fmt: skip
        return {"rules": {"r": rule}, "overall": dict(rule)}

    pooled = pool_risk([evaluation(10, 0, 5000), evaluation(30, 10, 15000)])
    assert pooled is not None and pooled["per"] == "replication"
    rule = pooled["rules"]["r"]
    assert (rule["tp"], rule["fp"], rule["flags"], rule["money_saved_fen"]) == (20, 5, 25, 10000)
    assert rule["precision"] == 0.8  # 40 / 50 pooled, the ratio of the means
    assert rule["shadow"] is False
    low, high = rule["ci95"]["money_saved_fen"]
    assert low < 10000 < high


# --- arrivals and identities ------------------------------------------------------------------


def night_share(text: str, write_scenario) -> float:  # type: ignore[no-untyped-def]
    scenario = load_scenario(write_scenario(text))
    _, runs = build(scenario, seed=6)
    times = runs[0].sample.attempts.t_s
    zone = dt.timezone(dt.timedelta(hours=8))
    hours = [dt.datetime.fromtimestamp(scenario.start_s + t, zone).hour for t in times]
    return sum(1 <= h < 6 for h in hours) / len(hours)


def test_arrivals_follow_the_daily_activity_profile(write_scenario) -> None:  # type: ignore[no-untyped-def]
    flat = poisson_text(days=14, quota=100_000, claim=0.002)
    default = flat.replace(f"activity_by_hour = {FLAT_DAY}\n", "")
    assert night_share(flat, write_scenario) == pytest.approx(5 / 24, abs=0.02)
    assert night_share(default, write_scenario) < 0.03  # quiet 01:00-06:00


def test_two_ring_segments_never_share_an_address(write_scenario) -> None:  # type: ignore[no-untyped-def]
    ring = (
        '\n[[segments]]\nname = "{name}"\nkind = "wool_puller"\nrings = 3\naccounts_per_ring = 20\n'
    )
    text = poisson_text() + ring.format(name="ring_a") + ring.format(name="ring_b")
    _, runs = build(load_scenario(write_scenario(text)), seed=1)
    pools = []
    for run in runs[1:]:
        size = run.segment.ips_per_ring
        pools.append({run.ip(i, a) for a in range(run.sample.actors) for i in range(size)})
    assert pools[0] and pools[1] and not pools[0] & pools[1]
    assert len(pools[0]) == 3 * 20  # three rings, 20 IPs each
