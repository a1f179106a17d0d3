"""One replication: sample the population, run the campaign through the engine, and measure it
against the no-campaign counterfactual of the same population (common random numbers).

:func:`run_replication` takes only plain data (the resolved scenario dict, a seed, and the
horizon when a comparison fixes it), so it can run in a process pool or on a Dask worker, and
returns plain data (:data:`ReplicationResult`).

Sell-out, per stock, is two separate events: the quota sold out (the claim that issued its last
coupon: final, the quota never comes back) and the budget exhausted (the first claim refused
because the budget left could not reserve the coupon: often temporary, since expiries release
reserved budget). The scenario-level ``sellout_*`` and ``budget_exhausted_*`` metrics are those
of the campaign's flagship stock (``campaign.flagship_stock``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from sim.agents import Harness, StockTrack, cyclic_gc_paused
from sim.attempts import StockSlots
from sim.population import local_hours, openings, sample_segment
from sim.risk_config import _risk_module
from sim.scenario import Scenario, scenario_from_dict
from sim.segment_run import SegmentRun
from sim.units import DAY_S, HOUR_S

MAX_TAIL_S = 90 * DAY_S  # WeChat Pay: a stock's validity is at most 90 days

ReplicationResult = dict[str, Any]


def horizon_s(scenario: Scenario) -> float:
    """Seconds simulated: the campaign plus the longest validity tail of its stocks (at most 90
    days), so that coupons claimed on the last day can still be used or expire. A comparison
    measures both variants over the longer of their two horizons (:func:`run_replication`)."""
    tail = 0.0
    for spec in scenario.stocks:
        validity = spec.validity
        if validity.days_after_claim is not None:
            tail = max(tail, validity.days_after_claim * DAY_S)
        elif validity.fixed_end_s is not None:
            tail = max(tail, validity.fixed_end_s - scenario.end_s)
    return scenario.days * DAY_S + min(tail, MAX_TAIL_S)


def build(
    scenario: Scenario, seed: int, horizon: float | None = None
) -> tuple[Harness, list[SegmentRun]]:
    """The harness and the sampled segments of one replication, ready to run; ``horizon``
    (seconds, at least the scenario's own :func:`horizon_s`) defaults to the scenario's."""
    horizon = horizon_s(scenario) if horizon is None else horizon
    assert horizon >= scenario.days * DAY_S, "the horizon covers the campaign"
    slots = [openings(spec, scenario.start_s, scenario.end_s) for spec in scenario.stocks]
    index = {spec.stock_id: i for i, spec in enumerate(scenario.stocks)}
    hours = local_hours(scenario.start_s, scenario.timezone, math.ceil(horizon / HOUR_S) + 48)
    runs, subnet_base = [], 0
    for segment in scenario.segments:
        mine = {index[s]: StockSlots(s, slots[index[s]]) for s in segment.stocks}
        sample = sample_segment(segment, seed, mine, horizon, hours)
        runs.append(SegmentRun(sample, horizon, subnet_base))
        subnet_base += segment.ring_subnets
    risk = None
    module = _risk_module()
    if scenario.risk_rules and module is not None:
        risk = module.RiskEngine(scenario.risk_rules, seed=seed, keep_log=True)
    harness = Harness(scenario.stocks, scenario.start_s, horizon, seed, scenario.levers, risk)
    return harness, runs


def replicate(
    scenario: Scenario,
    seed: int,
    inspect: Callable[[Harness], None] | None = None,
    horizon: float | None = None,
) -> ReplicationResult:
    """Build, run and measure one replication of ``scenario`` with ``seed``.

    The cyclic garbage collector is paused from the first sample to the last metric (see
    :func:`~sim.agents.cyclic_gc_paused`), and the harness is freed before it resumes: its
    first pass would otherwise rescan every process, request and ledger entry of the run.
    ``inspect(harness)``, when given, sees the finished harness before it is freed (benchmarks
    read the number of SimPy events from it).
    """
    with cyclic_gc_paused():
        harness, runs = build(scenario, seed, horizon)
        harness.start(runs)
        harness.run()
        result = measure(scenario, harness, runs)
        if inspect is not None:
            inspect(harness)
        del harness, runs  # freed here by reference counting, while the collector is paused
    return result


def run_replication(
    raw: dict[str, Any], seed: int, index: int = 0, horizon: float | None = None
) -> ReplicationResult:
    """Run replication ``index`` of the resolved scenario ``raw`` with ``seed`` over
    ``horizon`` seconds (default: the scenario's own, :func:`horizon_s`)."""
    began = time.perf_counter()
    result = replicate(scenario_from_dict(raw), seed, horizon=horizon)
    result.update(index=index, seed=seed, elapsed_s=time.perf_counter() - began)
    return result


def measure(scenario: Scenario, h: Harness, runs: list[SegmentRun]) -> ReplicationResult:
    """Metrics of the campaign run and of its counterfactual (same population, no stocks)."""
    end_hour = min(scenario.days * 24, h.hours) - 1
    stocks = {track.spec.stock_id: _stock_metrics(track, end_hour) for track in h.stocks}
    flagship = stocks[scenario.flagship_stock]
    return {
        "metrics": {
            **_coupon_metrics(h, end_hour),
            **{name: flagship[name] for name in FLAGSHIP_METRICS},
            **_customer_metrics(h, runs),
        },
        "stocks": stocks,
        "segments": {run.name: _funnel(run) for run in runs},
        "timeseries": _timeseries(h),
        "risk": _risk_evaluation(h),
    }


# the flagship stock's sell-out metrics, repeated at the scenario level
FLAGSHIP_METRICS = (
    "sellout_probability",
    "sellout_time_s",
    "budget_exhausted_probability",
    "budget_exhausted_time_s",
)


def _coupon_metrics(h: Harness, end_hour: int) -> dict[str, Any]:
    """Claims, redemptions, budget, wool-pullers and risk, over every stock."""
    claims = sum(t.claims for t in h.stocks)
    redemptions = sum(t.redemptions for t in h.stocks)
    spent = sum(t.spent_by_hour[-1] for t in h.stocks)
    wool_spent = sum(t.wool_spent_fen for t in h.stocks)
    return {
        "claims": claims,
        "redemptions": redemptions,
        "redemption_rate": redemptions / claims if claims else None,
        "budget_spent_fen": spent,
        "budget_reserved_fen": sum(t.reserved_by_hour[end_hour] for t in h.stocks),
        "wool_puller_budget_share": wool_spent / spent if spent else None,
        "wool_puller_claims": sum(t.wool_claims for t in h.stocks),
        "wool_puller_spent_fen": wool_spent,
        "risk_rejections": h.risk_rejections,
        "claim_attempts": h.claim_attempts,
        "budget_refused_claims": sum(t.budget_refusals for t in h.stocks),
        "expired_coupons": h.expired,
    }


def _customer_metrics(h: Harness, runs: list[SegmentRun]) -> dict[str, Any]:
    """GMV and active customers, with the campaign and in the counterfactual."""
    legit = [run for run in runs if not run.segment.is_ring]
    organic_gmv = sum(r.sample.organic.gmv_fen for r in legit)
    organic_active = sum(r.sample.organic.active for r in legit)
    orders = sum(r.order_delta_fen for r in legit)
    follow_on = sum(r.follow_on_fen for r in legit)
    activated = sum(r.activated for r in legit)
    spent = sum(t.spent_by_hour[-1] for t in h.stocks)
    return {
        "gmv_fen": round(organic_gmv + orders + follow_on),
        "coupon_gmv_fen": sum(r.coupon_gmv_fen for r in legit),
        "counterfactual_gmv_fen": round(organic_gmv),
        "incremental_gmv_fen": round(orders + follow_on),
        "incremental_order_gmv_fen": round(orders),
        "incremental_follow_on_gmv_fen": round(follow_on),
        "incremental_roi": (orders + follow_on) / spent if spent else None,
        "activated_customers": sum(r.redeemed.count(1) for r in legit),
        "active_customers": organic_active + activated,
        "counterfactual_active_customers": organic_active,
        "incremental_active_customers": activated,
        "cost_per_incremental_customer_fen": spent / activated if activated else None,
        "wool_puller_gmv_fen": round(sum(r.order_delta_fen for r in runs if r.segment.is_ring)),
    }


def _stock_metrics(track: StockTrack, end_hour: int) -> dict[str, Any]:
    claims, redemptions = track.claims, track.redemptions
    spent = track.spent_by_hour[-1]
    return {
        "claims": claims,
        "redemptions": redemptions,
        "redemption_rate": redemptions / claims if claims else None,
        "budget_spent_fen": spent,
        "budget_reserved_fen": track.reserved_by_hour[end_hour],
        "sellout_probability": 1.0 if track.sellout_s is not None else 0.0,
        "sellout_time_s": track.sellout_s,
        "budget_exhausted_probability": 1.0 if track.budget_exhausted_s is not None else 0.0,
        "budget_exhausted_time_s": track.budget_exhausted_s,
        "budget_refused_claims": track.budget_refusals,
        "wool_puller_claims": track.wool_claims,
        "wool_puller_budget_share": track.wool_spent_fen / spent if spent else None,
    }


def _funnel(run: SegmentRun) -> dict[str, int]:
    """The segment's funnel, and where its incremental GMV comes from (wool-pullers: their
    orders, which are not GMV)."""
    return {
        "agents": run.segment.size,
        "exposed": run.sample.exposed,
        "claimed": run.claimed.count(1),  # the flags are 0 or 1
        "redeemed": run.redeemed.count(1),
        "activated": run.activated,
        "incremental_order_gmv_fen": round(run.order_delta_fen),
        "incremental_follow_on_gmv_fen": round(run.follow_on_fen),
    }


def _timeseries(h: Harness) -> list[list[Any]]:
    """One row per stock and hour: claims, redemptions, reserved, spent, quota left."""
    rows: list[list[Any]] = []
    for track in h.stocks:
        columns = zip(
            range(h.hours),
            track.claims_by_hour,
            track.redemptions_by_hour,
            track.reserved_by_hour,
            track.spent_by_hour,
            track.quota_left_by_hour,
            strict=True,
        )
        rows.extend([track.stock_id, *row] for row in columns)
    return rows


def _risk_evaluation(h: Harness) -> dict[str, Any] | None:
    if h.risk is None:
        return None
    module = _risk_module()
    evaluation = module.evaluate(h.risk.records, h.abusive, h.value_fen)
    return evaluation.to_dict()  # type: ignore[no-any-return]


__all__ = [
    "FLAGSHIP_METRICS",
    "ReplicationResult",
    "build",
    "horizon_s",
    "measure",
    "replicate",
    "run_replication",
]
