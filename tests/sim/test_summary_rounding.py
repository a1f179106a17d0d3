"""``summary.json`` rounding: sell-out times to whole seconds, every other metric to 6 digits."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy import stats as st

from sim.summary import compare_section, metric_stats

# Sell-outs weeks into a campaign: 6 significant digits of these would be steps of 10 s.
SELLOUTS_S = [3_612_345.4, 3_612_351.6, 3_698_007.2, None, 3_655_555.5]


def _expected(values: list[float]) -> dict[str, float]:
    data = np.array(values)
    half = st.t.ppf(0.975, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data))
    p5, p50, p95 = np.percentile(data, [5, 50, 95])
    mean = data.mean()
    return {"mean": mean, "p5": p5, "p50": p50, "p95": p95, "lo": mean - half, "hi": mean + half}


def _numbers(entry: dict[str, Any]) -> dict[str, Any]:
    lo, hi = entry["ci95"]
    return {**{k: entry[k] for k in ("mean", "p5", "p50", "p95")}, "lo": lo, "hi": hi}


def test_sellout_time_stats_are_whole_seconds() -> None:
    sellout = metric_stats([{"sellout_time_s": v} for v in SELLOUTS_S], ["sellout_time_s"])[
        "sellout_time_s"
    ]
    assert sellout["n"] == 4
    expected = _expected([v for v in SELLOUTS_S if v is not None])
    for key, value in _numbers(sellout).items():
        assert isinstance(value, int), (key, value)
        assert abs(value - expected[key]) <= 0.5, (key, value, expected[key])


def test_other_metrics_keep_six_significant_digits() -> None:
    gmv = [1_234_567.891 * (i + 1) for i in range(5)]
    summary = metric_stats([{"gmv_fen": v} for v in gmv], ["gmv_fen"])
    expected = _expected(gmv)
    for key, value in _numbers(summary["gmv_fen"]).items():
        assert value == float(f"{expected[key]:.6g}"), (key, value, expected[key])


def test_sellout_time_difference_is_whole_seconds() -> None:
    base = [{"metrics": {"sellout_time_s": v}} for v in SELLOUTS_S]
    variant = [{"metrics": {"sellout_time_s": None if v is None else v + 12.3}} for v in SELLOUTS_S]
    other = SimpleNamespace(name="variant", hash="x", flagship_stock="s")
    section = compare_section(other, base, variant)
    difference = section["metrics"]["sellout_time_s"]["difference"]
    assert difference["n"] == 4
    assert all(isinstance(v, int) for v in _numbers(difference).values())
    assert difference["mean"] == 12
    other_stats = section["other_metrics"]["sellout_time_s"]
    assert all(isinstance(v, int) for v in _numbers(other_stats).values())
