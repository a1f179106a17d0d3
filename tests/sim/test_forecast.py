"""Forecast runs: shipped scenarios run, seeds replay byte for byte, jobs and Dask agree, the
budget is never overspent, and the CLI refuses bad input without a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from couponlab.cli import main
from sim.replication import run_replication
from sim.runner import forecast, replication_seeds, write_run
from sim.scenario import Scenario, load_scenario, scenario_from_dict
from tests.sim.conftest import SCENARIOS, poisson_text

SHIPPED = sorted(SCENARIOS.glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_runs_a_small_replication(path: Path) -> None:
    scenario = load_scenario(path).scaled(0.01)
    result = run_replication(scenario.raw, seed=3)
    metrics = result["metrics"]
    assert metrics["claims"] > 0
    assert metrics["claims"] <= metrics["claim_attempts"]
    assert 0 <= metrics["redemptions"] <= metrics["claims"]
    assert 0 < metrics["coupon_gmv_fen"] <= metrics["gmv_fen"]
    assert_budget_holds_every_hour(scenario, result)


def assert_budget_holds_every_hour(scenario: Scenario, result: dict[str, Any]) -> None:
    """Quota and budget hold in every hour: reserved and spent are levels of the same hour
    (spent at the end of the horizon plus reserved at the end of the campaign is no rule:
    coupons reserved at the campaign's end may expire and their budget be spent again)."""
    budgets = {spec.stock_id: spec.budget_fen for spec in scenario.stocks}
    quotas = {spec.stock_id: spec.quota for spec in scenario.stocks}
    for stock_id, _hour, _c, _r, reserved, spent, left in result["timeseries"]:
        assert 0 <= reserved + spent <= budgets[stock_id]
        assert 0 <= left <= quotas[stock_id]
    for spec in scenario.stocks:
        assert result["stocks"][spec.stock_id]["claims"] <= spec.quota


def test_a_budget_bound_stock_at_full_size_holds_its_budget_every_hour() -> None:
    # first_swipe: a budget for 8,000 coupons at a time, and demand for far more: expiries
    # release reserved budget, so more than 8,000 are issued over the season, and the end-of-
    # horizon spent plus the end-of-campaign reserved exceeds the budget, legitimately.
    full = load_scenario(SCENARIOS / "credit_card_season.toml")
    raw = {**full.raw, "segments": [s for s in full.raw["segments"] if s["name"] == "new"]}
    raw["stocks"] = [s for s in full.raw["stocks"] if s["id"] == "first_swipe"]
    raw["segments"][0]["stocks"] = ["first_swipe"]
    raw["campaign"] = {**raw["campaign"], "flagship_stock": "first_swipe"}
    raw["load"] = {**raw["load"], "stock": "first_swipe"}
    scenario = scenario_from_dict(raw)
    result = run_replication(scenario.raw, seed=3)
    stock, spec = result["stocks"]["first_swipe"], scenario.stocks[0]
    assert stock["claims"] * spec.value.face_fen > spec.budget_fen  # budget recycled
    assert stock["budget_exhausted_probability"] == 1.0
    assert_budget_holds_every_hour(scenario, result)


def test_money_saved_by_risk_counts_a_random_coupon_at_its_expected_value() -> None:
    scenario = load_scenario(SCENARIOS / "wecom_lucky_draw.toml").scaled(0.05)
    (stock,) = scenario.stocks
    rules = run_replication(scenario.raw, seed=3)["risk"]["rules"]
    assert any(rule["tp"] > 0 for rule in rules.values())
    for rule in rules.values():  # at the maximum (188 yuan) it would be ~50 times as much
        assert rule["money_saved_fen"] <= rule["tp"] * round(stock.value.expected_fen)


def _run_cli(tmp_path: Path, scenario: Path, *flags: str, out: str = "run") -> Path:
    run_dir = tmp_path / out
    code = main(["sim", str(scenario), "--out", str(run_dir), *flags])
    assert code == 0
    return run_dir


def test_same_seed_gives_byte_identical_summary_and_other_seeds_differ(
    tmp_path: Path, write_scenario
) -> None:  # type: ignore[no-untyped-def]
    scenario = write_scenario(poisson_text(quota=80, claim=0.0005))
    flags = ("--replications", "3", "--seed", "11")
    first = _run_cli(tmp_path, scenario, *flags, out="a")
    second = _run_cli(tmp_path, scenario, *flags, out="b")
    other = _run_cli(tmp_path, scenario, "--replications", "3", "--seed", "12", out="c")
    text = (first / "summary.json").read_bytes()
    assert text == (second / "summary.json").read_bytes()
    assert (first / "timeseries.csv").read_bytes() == (second / "timeseries.csv").read_bytes()
    assert text != (other / "summary.json").read_bytes()
    for name in ("scenario.toml", "summary.json", "timeseries.csv", "replications.csv"):
        assert (first / name).is_file()
    summary = json.loads(text)
    assert summary["seed"] == 11 and summary["replications"] == 3
    for name in ("claims", "redemption_rate", "incremental_gmv_fen", "sellout_time_s"):
        assert set(summary["metrics"][name]) == {"mean", "p5", "p50", "p95", "ci95", "n"}


def test_summary_is_byte_identical_whatever_the_jobs(tmp_path: Path, write_scenario) -> None:  # type: ignore[no-untyped-def]
    scenario = write_scenario(poisson_text())
    flags = ("--replications", "4", "--seed", "5")
    serial = _run_cli(tmp_path, scenario, *flags, "--jobs", "1", out="serial")
    pooled = _run_cli(tmp_path, scenario, *flags, "--jobs", "2", out="pooled")
    assert (serial / "summary.json").read_bytes() == (pooled / "summary.json").read_bytes()
    assert "jobs" not in json.loads((serial / "summary.json").read_text())
    # how it ran goes to run.json
    assert json.loads((serial / "run.json").read_text())["jobs"] == 1
    assert json.loads((pooled / "run.json").read_text())["jobs"] == 2


def test_dask_local_cluster_gives_the_serial_result(write_scenario) -> None:  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("distributed")
    scenario = load_scenario(write_scenario(poisson_text()))
    serial = forecast(scenario, 3, seed=9)["summary"]
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        remote = forecast(scenario, 3, seed=9, dask=cluster.scheduler_address)["summary"]
    assert remote == serial


def test_budget_burn_never_exceeds_the_budget(write_scenario) -> None:  # type: ignore[no-untyped-def]
    # a budget for 30 coupons, demand for about 100: the budget, not the quota, binds
    text = poisson_text(quota=1000, budget=30_000, claim=0.0001, redeem=0.9)
    scenario = load_scenario(write_scenario(text))
    outcome = forecast(scenario, 6, seed=2)
    for result in outcome["results"]:
        series = [row for row in result["timeseries"] if row[0] == "s"]
        assert all(reserved + spent <= 30_000 for *_, reserved, spent, _left in series)
        assert result["stocks"]["s"]["claims"] <= 30
    metrics = outcome["summary"]["stocks"]["s"]["metrics"]
    assert metrics["budget_exhausted_probability"]["mean"] == 1.0  # a claim refused for budget
    assert metrics["sellout_probability"]["mean"] == 0.0  # the quota never sold out


def test_compare_reports_differences_with_common_random_numbers(
    write_scenario,
) -> None:  # type: ignore[no-untyped-def]
    base = load_scenario(write_scenario(poisson_text(redeem=0.2), "a.toml"))
    same = load_scenario(write_scenario(poisson_text(redeem=0.2), "b.toml"))
    more = load_scenario(write_scenario(poisson_text(redeem=0.6), "c.toml"))
    null = forecast(base, 3, seed=4, other=same)["summary"]["compare"]["metrics"]
    assert null["redemptions"]["difference"]["mean"] == 0  # CRN: identical runs, zero noise
    diff = forecast(base, 3, seed=4, other=more)["summary"]["compare"]["metrics"]
    assert diff["redemptions"]["difference"]["ci95"][0] > 0
    assert diff["claims"]["difference"]["mean"] == 0  # same customers claim in both variants


def _two_stocks(spike_share: str) -> str:
    one = poisson_text(quota=100_000, claim=0.0005)
    second = one.split("[[segments]]")[0].split("[[stocks]]")[1].replace('"s"', '"t"')
    text = one.replace("[[segments]]", f"[[stocks]]{second}[[segments]]")
    return text.replace("spike_share = 0.0", f"spike_share = {spike_share}").replace(
        "[[segments]]", '[[segments]]\nspike_delay = {dist = "fixed", value_s = 30}', 1
    )


def test_a_spike_share_per_stock_puts_only_that_stock_in_the_opening_rush(write_scenario) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario(write_scenario(_two_stocks("{s = 1.0, t = 0.0}")))
    first_hour = {"s": 0, "t": 0}
    total = {"s": 0, "t": 0}
    for row in run_replication(scenario.raw, seed=8)["timeseries"]:
        first_hour[row[0]] += row[2] if row[1] == 0 else 0
        total[row[0]] += row[2]
    assert total["s"] > 100 and total["t"] > 100
    assert first_hour["s"] == total["s"]  # every claim 30 s after the opening
    assert first_hour["t"] < 0.15 * total["t"]  # spread over the day: about 1/24 in hour 0


def test_checkout_reminder_discounts_purchases_that_happen_anyway(write_scenario) -> None:  # type: ignore[no-untyped-def]
    # Nobody means to use the coupon; everyone shops daily. The checkout reminder turns half of
    # the holders into users, on purchases they make anyway (no threshold to raise them to):
    # redemptions and coupon GMV appear, incremental GMV stays exactly zero.
    base = poisson_text(quota=100_000, redeem=0.0).replace(
        "purchases_per_week = 0.0", "purchases_per_week = 7.0"
    )
    lever = base + "\n[levers]\ncheckout_reminder = true\ncheckout_response = 0.5\n"
    plain = forecast(load_scenario(write_scenario(base, "plain.toml")), 2, seed=6)["summary"]
    reminded = forecast(load_scenario(write_scenario(lever, "lever.toml")), 2, seed=6)["summary"]
    assert plain["metrics"]["redemptions"]["mean"] == 0
    rate = reminded["metrics"]["redemption_rate"]
    assert 0.45 < rate["mean"] < 0.55  # 0.5 × P(a purchase within 30 days) ≈ 0.5
    assert reminded["metrics"]["coupon_gmv_fen"]["mean"] > 0
    assert reminded["metrics"]["incremental_gmv_fen"]["mean"] == 0
    assert reminded["metrics"]["incremental_roi"]["mean"] == 0


def _threshold(threshold_fen: int, stretch: float | None = None) -> str:
    text = poisson_text(quota=100_000, redeem=0.5).replace(
        "face_fen = 1000", f"face_fen = 1000\nthreshold_fen = {threshold_fen}"
    )
    text = text.replace(
        'amount = {dist = "lognormal", median_fen = 5000, sigma = 0.5}',
        'amount = {dist = "fixed", value_fen = 15000}',
    )
    return text if stretch is None else text + f"max_stretch = {stretch}\n"


def test_a_higher_threshold_loses_the_orders_too_far_below_it(write_scenario) -> None:  # type: ignore[no-untyped-def]
    # Every order is 150 yuan; the coupon takes 10 off. 满200 means paying about 190-200: within
    # the default max_stretch (pay at most 1.5 × 150 = 225), so every holder who means to use the
    # coupon does. 满300 means paying about 290-320: nobody. With max_stretch 1.0 (pay up to 300)
    # most of them would, but not those whose top-up takes the bill over 300.
    low = load_scenario(write_scenario(_threshold(20_000), "low.toml"))
    high = load_scenario(write_scenario(_threshold(30_000), "high.toml"))
    willing = load_scenario(write_scenario(_threshold(30_000, stretch=1.0), "willing.toml"))
    outcome = forecast(low, 3, seed=5, other=high)
    rate = outcome["summary"]["metrics"]["redemption_rate"]
    assert rate["ci95"][0] <= 0.5 <= rate["ci95"][1]
    difference = outcome["summary"]["compare"]["metrics"]["redemptions"]["difference"]
    assert difference["mean"] == -outcome["summary"]["metrics"]["redemptions"]["mean"] < 0
    stretched = forecast(willing, 3, seed=5)["summary"]["metrics"]["redemptions"]["mean"]
    assert 0 < stretched < outcome["summary"]["metrics"]["redemptions"]["mean"]


def test_replication_seeds_come_from_seed_sequence() -> None:
    assert replication_seeds(1, 3) == replication_seeds(1, 5)[:3]
    assert len(set(replication_seeds(1, 50))) == 50


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--replications", "0"], "--replications = '0': expected an integer 1..100000"),
        (["--replications", "many"], "--replications = 'many': expected an integer"),
        (["--jobs", "-1"], "--jobs = '-1': expected an integer 1..256"),
        (["--seed", "x"], "--seed = 'x': expected an integer"),
        (["--population-scale", "0"], "--population-scale = '0'"),
        (["--compare", "missing.toml"], "--compare = 'missing.toml': expected an existing"),
    ],
)
def test_bad_flags_are_named_without_traceback(
    flags: list[str], message: str, write_scenario, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    scenario = write_scenario(poisson_text())
    code = main(["sim", str(scenario), "--out", str(tmp_path / "run"), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("spike_share = 0.0", "spike_share = 0.0\nrepeat_probability = 1.0",
         "segments[0].repeat_probability = 1.0: expected"),
        ("purchases_per_week = 0.0", "purchases_per_week = 1e9",
         "segments[0].purchases_per_week = 1000000000.0: expected"),
        ("size = 1000000", "size = 100000000000000", "segments[0].size = 100000000000000:"),
        ("face_fen = 1000", "face_fen = 1000\nlimits = 5", "stocks[0].limits = 5: expected"),
        ("[[segments]]", "segments = [1]\n[[x]]", "no such key"),
        ("kind = \"voucher\"", "kind = \"voucher\"\nwindowz = {a = 1}",
         "stocks[0].windowz = {a = 1}: expected no such key"),
    ],
)  # fmt: skip
def test_bad_scenario_files_exit_2_with_the_named_error_and_no_traceback(
    old: str, new: str, message: str, write_scenario, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    text = poisson_text()
    assert old in text
    bad = write_scenario(text.replace(old, new, 1))
    assert main(["sim", str(bad), "--out", str(tmp_path / "run"), "-r", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err) < 400  # a long offending value (a whole table) is cut short


def test_bad_scenario_and_occupied_out_are_refused(write_scenario, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = write_scenario(poisson_text().replace("quota = 50", "quota = -1"))
    assert main(["sim", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "stocks[0].quota = -1: expected an integer >= 1" in capsys.readouterr().err
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    good = write_scenario(poisson_text(), "good.toml")
    assert main(["sim", str(good), "--out", str(occupied)]) == 2
    assert "--out" in capsys.readouterr().err
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]


def test_a_failed_write_leaves_nothing_behind(write_scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario(write_scenario(poisson_text()))
    outcome = forecast(scenario, 1, seed=1)
    outcome["summary"]["metrics"]["claims"]["mean"] = float("nan")  # JSON refuses NaN
    with pytest.raises(ValueError):
        write_run(tmp_path / "run", scenario, outcome, render=False)
    assert [p.name for p in tmp_path.iterdir()] == ["scenario.toml"]


def test_values_in_errors_are_spelled_as_in_toml(write_scenario, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = write_scenario(
        poisson_text().replace('kind = "voucher"', 'kind = "voucher"\nfunding = true')
    )
    assert main(["sim", str(bad), "--out", str(tmp_path / "run"), "-r", "1"]) == 2
    err = capsys.readouterr().err
    assert "stocks[0].funding = true: expected" in err and "True" not in err


def test_a_cli_comparison_saves_both_scenarios_and_prints_the_differences(
    write_scenario, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    base = write_scenario(poisson_text(redeem=0.2), "base.toml")
    (tmp_path / "variant").mkdir()
    other = tmp_path / "variant" / "base.toml"  # the same file name, another folder
    other.write_text(poisson_text(redeem=0.6), encoding="utf-8")
    flags = ("-r", "2", "--seed", "3", "--population-scale", "0.5", "--compare", str(other))
    run_dir = _run_cli(tmp_path, base, *flags)
    out = capsys.readouterr().out
    assert "difference B − A" in out and "redemptions" in out.split("difference B − A")[1]
    big_with_cents = r"¥(\d{2,3},\d{3}|\d{1,3}(,\d{3}){2,})\.\d\d"
    assert not re.search(big_with_cents, out)  # ¥10,000 and up in whole yuan
    resolved = load_scenario(run_dir / "other_scenario.toml")
    assert (
        resolved.hash == json.loads((run_dir / "summary.json").read_text())["compare"]["other_hash"]
    )
    facts = json.loads((run_dir / "run.json").read_text())
    assert facts["other_file"] == str(other) and facts["population_scale"] == 0.5
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert f"--population-scale 0.5 --compare {other}" in page
    assert "--compare RUN_DIR/other_scenario.toml" in page
    assert f"A = {base}, B = {other}" in page  # same names: the paths tell them apart
