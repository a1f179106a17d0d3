"""Words and HTML pieces shared by the forecast report's sections (:mod:`sim.report_html`,
:mod:`sim.report_sections`): metric labels and kinds, ranges, escaping, cards, tables.

Everything here is a pure function of its arguments; every text that reaches the page goes
through :func:`esc`.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from sim.report import fmt

LABELS = {
    "claims": "Claims (coupons issued)",
    "redemptions": "Redemptions",
    "redemption_rate": "Redemption rate",
    "budget_spent_fen": "Budget spent",
    "budget_reserved_fen": "Budget reserved at campaign end (issued, not yet used)",
    "gmv_fen": "Card spend of legitimate customers (all purchases, whole population)",
    "coupon_gmv_fen": "GMV of coupon orders",
    "counterfactual_gmv_fen": "Card spend without the campaign (counterfactual)",
    "incremental_roi": "Incremental GMV per yuan spent",
    "active_customers": "Active customers (at least one purchase)",
    "counterfactual_active_customers": "Active customers without the campaign",
    "wool_puller_spent_fen": "Budget spent on wool-pullers",
    "wool_puller_gmv_fen": "Wool-puller orders (not in GMV)",
    "claim_attempts": "Claim attempts",
    "tp": "Abuse flagged (true positives)",
    "fp": "Legitimate flagged (false positives)",
    "fn": "Abuse missed (false negatives)",
    "tn": "Legitimate passed (true negatives)",
    "expired_coupons": "Expired coupons",
    "incremental_gmv_fen": "Incremental GMV (vs. no campaign)",
    "incremental_order_gmv_fen": "Incremental GMV: extra and larger coupon orders",
    "incremental_follow_on_gmv_fen": "Incremental GMV: spend after a first use",
    "activated_customers": "Customers who redeemed",
    "incremental_active_customers": "Incremental active customers",
    "cost_per_incremental_customer_fen": "Cost per incremental customer",
    "sellout_probability": "Quota sold out (probability)",
    "sellout_time_s": "Quota sold out (time after start)",
    "budget_exhausted_probability": "Budget ran out: a claim refused (probability)",
    "budget_exhausted_time_s": "Budget ran out: first refusal (time after start)",
    "budget_refused_claims": "Claims refused for budget",
    "wool_puller_budget_share": "Wool-puller share of spent budget",
    "wool_puller_claims": "Wool-puller claims",
    "risk_rejections": "Claims and redemptions rejected by risk",
}


def label(name: str) -> str:
    """The marketer-facing label of a metric name (the name itself when unknown)."""
    if name in LABELS:
        return LABELS[name]
    for unit in ("_fen", "_s"):
        name = name.removesuffix(unit)
    return name.replace("_", " ").capitalize()


def metric_kind(name: str) -> str:
    """How a metric is shown, from its unit suffix: money, duration, share, ratio or count."""
    if name.endswith("_fen"):
        return "money"
    if name.endswith("_s"):
        return "duration"
    if name.endswith(("_rate", "_share", "_probability", "precision", "recall")):
        return "share"
    return "ratio" if name.endswith("_roi") else "count"


def fmt_range(low: Any, high: Any, kind: str, *, signed: bool = False) -> str:
    """``low to high`` (words, not a dash: ranges of negative numbers stay readable), or an em
    dash when either end is undefined."""
    if fmt(low, kind) == "—" or fmt(high, kind) == "—":
        return "—"
    return f"{fmt(low, kind, signed=signed)} to {fmt(high, kind, signed=signed)}"


def ci95(stats: dict[str, Any]) -> tuple[Any, Any]:
    """The (lo, hi) 95% interval of the mean of a STATS object; (None, None) when undefined."""
    bounds = stats.get("ci95")
    return (bounds[0], bounds[1]) if isinstance(bounds, list) else (None, None)


def mean_of(metrics: dict[str, Any], name: str) -> Any:
    """The mean of metric ``name`` in a ``{name: STATS}`` map (None when absent)."""
    return (metrics.get(name) or {}).get("mean")


def stats_of(values: np.ndarray) -> dict[str, Any]:
    """STATS (mean, p5, p50, p95, ci95 of the mean by Student t, n) of finite ``values``."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": None, "p5": None, "p50": None, "p95": None, "ci95": None, "n": 0}
    mean = float(finite.mean())
    half = 0.0
    if finite.size > 1:
        from scipy import stats as scipy_stats

        sem = float(finite.std(ddof=1)) / math.sqrt(finite.size)
        half = float(scipy_stats.t.ppf(0.975, finite.size - 1)) * sem
    p5, p50, p95 = (float(v) for v in np.percentile(finite, [5, 50, 95]))
    ci = [mean - half, mean + half]
    return {"mean": mean, "p5": p5, "p50": p50, "p95": p95, "ci95": ci, "n": int(finite.size)}


def esc(value: Any) -> str:
    """HTML-escape anything (every text that reaches the page goes through here)."""
    return html.escape(str(value), quote=True)


def card(key: str, value: str, details: list[str]) -> str:
    """A headline card: a label, a big value, and detail lines."""
    lines = "".join(f'<div class="d">{esc(line)}</div>' for line in details)
    head = f'<div class="k">{esc(key)}</div><div class="v">{esc(value)}</div>'
    return f'<div class="card">{head}{lines}</div>'


def section(title: str, note: str, content: str) -> str:
    """``<h2>`` title, an optional note paragraph, then ``content`` (already HTML)."""
    note_html = f'<p class="note">{esc(note)}</p>\n' if note else ""
    return f"<h2>{esc(title)}</h2>\n{note_html}{content}"


def table(
    headers: list[str],
    rows: list[list[str]],
    row_classes: list[str] | None = None,
    text_columns: tuple[int, ...] = (0,),
    narrow: bool = False,
    css_class: str = "",
) -> str:
    """An HTML table: numbers right-aligned, ``text_columns`` left-aligned, cells escaped (a
    cell's second line, after a newline, is set small below the first);
    ``narrow`` sizes it to its content, ``css_class`` names it for the page's style."""

    def cell(tag: str, index: int, text: str) -> str:
        align = ' class="l"' if index in text_columns else ""
        first, _, rest = text.partition("\n")  # a second line is a note (an interval)
        note = f'<br><span class="ci">{esc(rest)}</span>' if rest else ""
        return f"<{tag}{align}>{esc(first)}{note}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    classes = row_classes or [""] * len(rows)
    body = "".join(
        (f'<tr class="{cls}">' if cls else "<tr>")
        + "".join(cell("td", i, text) for i, text in enumerate(row))
        + "</tr>"
        for row, cls in zip(rows, classes, strict=True)
    )
    classes_attr = " ".join(c for c in ("kv" if narrow else "", css_class) if c)
    opening = f'<table class="{classes_attr}">' if classes_attr else "<table>"
    return f"{opening}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
