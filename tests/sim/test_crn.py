"""Common random numbers: variants of a campaign share the same customers, the same organic
purchases and the same window, so their differences are the campaign's alone."""

from __future__ import annotations

import numpy as np

from sim.population import local_hours, sample_segment
from sim.replication import horizon_s, run_replication
from sim.runner import forecast, replication_seeds
from sim.scenario import load_scenario
from tests.sim.conftest import poisson_text

COUNTERFACTUAL = ("counterfactual_gmv_fen", "counterfactual_active_customers")


def shoppers(claim: float = 0.12, validity: int = 7) -> str:
    """A week-long campaign over shoppers who buy twice a week, plus new customers of whom half
    start on their own: organic purchases that the campaign pulls forward and enlarges."""
    text = poisson_text(days=7, quota=100_000, size=20_000, claim=claim, validity=validity)
    text = text.replace("purchases_per_week = 0.0", "purchases_per_week = 2.0")
    return text + (
        '\n[[segments]]\nname = "newcomers"\nkind = "new"\nsize = 5000\n'
        f"claim_probability = {claim}\nredemption_probability = 0.5\n"
        "organic_activation_probability = 0.5\n"
    )


def test_a_campaign_parameter_does_not_redraw_the_counterfactual(write_scenario) -> None:  # type: ignore[no-untyped-def]
    base = load_scenario(write_scenario(shoppers(claim=0.12), "a.toml"))
    more = load_scenario(write_scenario(shoppers(claim=0.13), "b.toml"))
    for seed in replication_seeds(4, 3):
        a, b = (
            run_replication(base.raw, seed)["metrics"],
            run_replication(more.raw, seed)["metrics"],
        )
        assert b["claims"] > a["claims"]  # the campaign did change
        assert all(a[name] == b[name] for name in COUNTERFACTUAL)
    compare = forecast(base, 3, seed=4, other=more)["summary"]["compare"]["metrics"]
    for name in COUNTERFACTUAL:
        assert compare[name]["difference"]["mean"] == 0
        assert compare[name]["difference"]["ci95"] == [0, 0]


def test_more_responders_keep_the_others_behaviour(write_scenario) -> None:  # type: ignore[no-untyped-def]
    """Raising claim_probability adds customers; those who act in both variants arrive, intend
    and order the same (keyed uniforms), so differences are low-variance."""
    scenario_a = load_scenario(write_scenario(shoppers(claim=0.12), "a.toml"))
    scenario_b = load_scenario(write_scenario(shoppers(claim=0.13), "b.toml"))
    horizon = horizon_s(scenario_a)
    hours = local_hours(scenario_a.start_s, "Asia/Shanghai", int(horizon // 3600) + 48)
    slots = {0: ("s", [(0.0, 7 * 86_400.0)])}
    a = sample_segment(scenario_a.segments[0], 9, slots, horizon, hours)  # type: ignore[arg-type]
    b = sample_segment(scenario_b.segments[0], 9, slots, horizon, hours)  # type: ignore[arg-type]
    assert set(a.customers.tolist()) < set(b.customers.tolist())
    common = np.isin(b.customers[b.attempts.actor], a.customers)
    for column in ("t_s", "will_use", "amount_fen", "use_delay_s"):
        assert np.array_equal(getattr(a.attempts, column), getattr(b.attempts, column)[common])


def test_a_longer_validity_is_measured_over_the_same_window(write_scenario) -> None:  # type: ignore[no-untyped-def]
    short = load_scenario(write_scenario(shoppers(validity=7), "short.toml"))
    long = load_scenario(write_scenario(shoppers(validity=30), "long.toml"))
    assert horizon_s(short) < horizon_s(long)
    outcome = forecast(short, 2, seed=5, other=long)
    assert outcome["summary"]["horizon_days"] == 7 + 30
    compare = outcome["summary"]["compare"]["metrics"]
    for name in COUNTERFACTUAL:
        assert compare[name]["difference"]["mean"] == 0
    hours = {len(r["timeseries"]) for r in outcome["results"] + outcome["other_results"]}
    assert hours == {(7 + 30) * 24}  # both variants' series cover the same hours


def test_a_longer_horizon_adds_weeks_of_organic_purchases_without_redrawing_earlier_ones(
    write_scenario,
) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario(write_scenario(shoppers()))
    segment = scenario.segments[0]
    hours = local_hours(scenario.start_s, "Asia/Shanghai", 60 * 24)
    slots = {0: ("s", [(0.0, 7 * 86_400.0)])}
    short = sample_segment(segment, 3, slots, 14 * 86_400.0, hours)  # type: ignore[arg-type]
    long = sample_segment(segment, 3, slots, 40 * 86_400.0, hours)  # type: ignore[arg-type]
    assert long.organic.count > short.organic.count
    early = [
        (actor, key - actor * (40 * 86_400.0 + 1), amount)
        for actor in range(long.actors)
        for key, amount in zip(
            long.organic.keys[long.organic.offsets[actor] : long.organic.offsets[actor + 1]],
            long.organic.amount_fen[long.organic.offsets[actor] : long.organic.offsets[actor + 1]],
            strict=True,
        )
    ]
    kept = [(a, round(t, 2), m) for a, t, m in early if t < 14 * 86_400.0]
    before = [
        (actor, round(key - actor * (14 * 86_400.0 + 1), 2), amount)
        for actor in range(short.actors)
        for key, amount in zip(
            short.organic.keys[short.organic.offsets[actor] : short.organic.offsets[actor + 1]],
            short.organic.amount_fen[
                short.organic.offsets[actor] : short.organic.offsets[actor + 1]
            ],
            strict=True,
        )
    ]
    assert kept == before and kept
