"""Summaries of R replications: statistics per metric, per stock and per segment, the pooled risk
evaluation, the comparison of two variants, and the run directory's CSV files.

``STATS = {"mean", "p5", "p50", "p95", "ci95": [lo, hi], "n"}`` over the replications where the
metric is defined (e.g. ``sellout_time_s`` only where the stock sold out); ``ci95`` is the 95%
Student-t confidence interval of the mean. A probability (a metric named ``*_probability``, 0 or
1 in each replication) is a proportion of replications: its ``ci95`` is the Wilson score
interval (inside 0..1, defined from one replication on) and its percentiles are observed values
(0 or 1, never interpolated). Every number is rounded to 6 significant digits so that
``summary.json`` is byte-identical for the same scenario, seed and replications on any machine
and whatever ran them (``--jobs``, ``--dask``: those go to ``run.json``), except the STATS of
times (:data:`WHOLE_SECONDS`), rounded to whole seconds: 6 digits of 3.6e6 s would be steps of
10 s.
"""

from __future__ import annotations

import csv
import math
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as st

from sim.units import DAY_S

METRICS = (
    "claims",
    "redemptions",
    "redemption_rate",
    "budget_spent_fen",
    "budget_reserved_fen",
    "gmv_fen",
    "coupon_gmv_fen",
    "counterfactual_gmv_fen",
    "incremental_gmv_fen",
    "incremental_order_gmv_fen",
    "incremental_follow_on_gmv_fen",
    "incremental_roi",
    "activated_customers",
    "active_customers",
    "counterfactual_active_customers",
    "incremental_active_customers",
    "cost_per_incremental_customer_fen",
    "sellout_probability",
    "sellout_time_s",
    "budget_exhausted_probability",
    "budget_exhausted_time_s",
    "budget_refused_claims",
    "wool_puller_budget_share",
    "wool_puller_claims",
    "wool_puller_spent_fen",
    "wool_puller_gmv_fen",
    "risk_rejections",
    "claim_attempts",
    "expired_coupons",
)
FUNNEL = (
    "agents",
    "exposed",
    "claimed",
    "redeemed",
    "activated",
    "incremental_order_gmv_fen",
    "incremental_follow_on_gmv_fen",
)
TIMESERIES_HEADER = (
    "replication",
    "stock_id",
    "hour",
    "claims",
    "redemptions",
    "budget_reserved_fen",
    "budget_spent_fen",
    "quota_left",
)
# Metrics whose STATS are written in whole seconds (overall, per stock and as differences).
WHOLE_SECONDS = frozenset({"sellout_time_s", "budget_exhausted_time_s"})
Z95 = 1.959963984540054
_RATIOS = ("precision", "recall", "legit_blocked_share")


def _round(value: float) -> float | int:
    if value == 0 or not math.isfinite(value):
        return 0.0 if value == 0 else value
    rounded = float(f"{value:.6g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


def _round_second(value: float) -> float | int:
    """The nearest whole second (ties to even); non-finite values are kept as they are."""
    return round(value) if math.isfinite(value) else value


def stats(
    values: Iterable[float | None], whole_seconds: bool = False, proportion: bool = False
) -> dict[str, Any]:
    """STATS of the defined values (``None`` values are left out; all-``None`` gives nulls).

    Numbers are rounded to 6 significant digits, or to whole seconds with ``whole_seconds``.
    With ``proportion`` the values are 0/1 outcomes: Wilson interval, observed percentiles.
    """
    data = np.array([v for v in values if v is not None], dtype=float)
    n = len(data)
    if n == 0:
        return {"mean": None, "p5": None, "p50": None, "p95": None, "ci95": [None, None], "n": 0}
    if proportion:
        assert np.isin(data, (0.0, 1.0)).all(), "a proportion's outcomes are 0 or 1"
    rnd = _round_second if whole_seconds else _round
    mean = float(data.mean())
    quantiles = (
        np.percentile(data, [5, 50, 95], method="inverted_cdf")
        if proportion
        else np.percentile(data, [5, 50, 95])
    )
    p5, p50, p95 = (float(x) for x in quantiles)
    ci: list[float | int | None] = [None, None]
    if proportion:
        ci = [rnd(bound) for bound in wilson(int(data.sum()), n)]
    elif n > 1:
        half = float(st.t.ppf(0.975, n - 1) * data.std(ddof=1) / math.sqrt(n))
        ci = [rnd(mean - half), rnd(mean + half)]
    return {
        "mean": rnd(mean),
        "p5": rnd(p5),
        "p50": rnd(p50),
        "p95": rnd(p95),
        "ci95": ci,
        "n": n,
    }


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion ``successes / n`` (``n >= 1``)."""
    assert 0 <= successes <= n and n >= 1
    z2 = Z95 * Z95
    p = successes / n
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def is_proportion(name: str) -> bool:
    """Whether metric ``name`` is a 0/1 outcome per replication (a probability)."""
    return name.endswith("_probability")


def metric_stats(rows: Sequence[dict[str, Any]], names: Iterable[str]) -> dict[str, Any]:
    """STATS per metric name over ``rows`` (times in whole seconds, probabilities as
    proportions)."""
    return {
        name: stats(
            (row.get(name) for row in rows),
            whole_seconds=name in WHOLE_SECONDS,
            proportion=is_proportion(name),
        )
        for name in names
    }


def versions() -> dict[str, str]:
    """The versions a run's numbers depend on (summary.json ``versions``)."""
    import importlib.metadata as md

    import simpy

    try:
        own = md.version("couponlab")
    except md.PackageNotFoundError:
        own = "0+unknown"
    return {
        "couponlab": own,
        "python": platform.python_version(),
        "simpy": simpy.__version__,
        "numpy": np.__version__,
    }


def build_summary(
    scenario: Any,
    results: Sequence[dict[str, Any]],
    seed: int,
    horizon_s: float,
    compare: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` document (docs/contracts.md, "Run directory"): a function of the
    scenario, the seed, the replications and the horizon only, never of what ran them."""
    metrics = [r["metrics"] for r in results]
    stocks = {}
    for spec in scenario.stocks:
        rows = [r["stocks"][spec.stock_id] for r in results]
        stocks[spec.stock_id] = {
            "quota": spec.quota,
            "budget_fen": spec.budget_fen,
            "funding": str(spec.funding),
            "metrics": metric_stats(rows, rows[0].keys()),
        }
    segments = {
        segment.name: metric_stats([r["segments"][segment.name] for r in results], FUNNEL)
        for segment in scenario.segments
    }
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "scenario_hash": scenario.hash,
        "seed": seed,
        "replications": len(results),
        "versions": versions(),
        "population": scenario.population,
        "days": scenario.days,
        "horizon_days": _round(horizon_s / DAY_S),
        "flagship_stock": scenario.flagship_stock,
        "metrics": metric_stats(metrics, METRICS),
        "stocks": stocks,
        "segments": segments,
        "risk": pool_risk([r["risk"] for r in results]),
    }
    if compare is not None:
        summary["compare"] = compare
    return summary


def compare_section(
    other: Any, base: Sequence[dict[str, Any]], variant: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Differences B − A (OTHER − SCENARIO) per replication with common random numbers,
    summarised, and B's own STATS (``other_metrics``). A difference is defined in the
    replications where both are (a sell-out time only where both sold out)."""
    out: dict[str, Any] = {}
    for name in METRICS:
        diffs = []
        for a, b in zip(base, variant, strict=True):
            x, y = a["metrics"].get(name), b["metrics"].get(name)
            diffs.append(None if x is None or y is None else y - x)
        out[name] = {"difference": stats(diffs, whole_seconds=name in WHOLE_SECONDS)}
    return {
        "other": other.name,
        "other_hash": other.hash,
        "other_flagship_stock": other.flagship_stock,
        "other_metrics": metric_stats([r["metrics"] for r in variant], METRICS),
        "metrics": out,
    }


def pool_risk(evaluations: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The risk evaluations of every replication, as figures *per replication* (like every
    other figure of the summary): each count (flags, tp, fp, fn, tn, decisions) and the money
    saved is the mean over the replications, with its 95% interval in ``ci95``; precision,
    recall and ``legit_blocked_share`` are ratios of the pooled counts (the same as ratios of
    the means). ``None`` when the scenario ran without risk."""
    present = [e for e in evaluations if e is not None]
    if not present:
        return None
    rule_ids = list(dict.fromkeys(r for e in present for r in e.get("rules", {})))
    rules = {
        rule_id: _per_replication([e.get("rules", {}).get(rule_id) or {} for e in present])
        for rule_id in rule_ids
    }
    overall = _per_replication([e.get("overall") or {} for e in present])
    return {"replications": len(present), "per": "replication", "rules": rules, "overall": overall}


def _per_replication(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One rule's (or the overall) entries of every replication, as means per replication."""
    out: dict[str, Any] = {}
    intervals: dict[str, Any] = {}
    keys = list(dict.fromkeys(k for entry in entries for k in entry))
    for key in keys:
        values = [entry.get(key) for entry in entries]
        first = next((v for v in values if v is not None), None)
        if key in _RATIOS:
            continue
        is_count = isinstance(first, int | float) and not isinstance(first, bool)
        if is_count:  # counts and money are never negative: neither is their interval
            summary = stats([v or 0 for v in values])
            low, high = summary["ci95"]
            out[key] = summary["mean"]
            intervals[key] = [None if low is None else max(low, 0), high]
        else:
            out[key] = first
    tp, fp, fn, tn = (sum(entry.get(k) or 0 for entry in entries) for k in ("tp", "fp", "fn", "tn"))
    if any("tp" in entry for entry in entries):
        out["precision"] = _round(tp / (tp + fp)) if tp + fp else None
        out["recall"] = _round(tp / (tp + fn)) if tp + fn else None
        out["legit_blocked_share"] = _round(fp / (fp + tn)) if fp + tn else None
    out["ci95"] = intervals
    return out


def write_replications(path: Path, results: Sequence[dict[str, Any]]) -> None:
    """``replications.csv``: one row per replication, its seed, then every metric."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["replication", "seed", *METRICS])
        for r in results:
            row = [r["metrics"].get(name) for name in METRICS]
            writer.writerow([r["index"], r["seed"], *("" if v is None else _cell(v) for v in row)])


def write_timeseries(path: Path, results: Sequence[dict[str, Any]]) -> None:
    """``timeseries.csv``: per replication, stock and hour, the counts and the levels."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TIMESERIES_HEADER)
        for r in results:
            index = r["index"]
            writer.writerows([index, *row] for row in r["timeseries"])


def _cell(value: Any) -> Any:
    return _round(value) if isinstance(value, float) else value
