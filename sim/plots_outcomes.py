"""The outcome plots of a forecast report: the funnel per segment, the flagship stock's sell-out
time and the risk rules against ground truth (see :mod:`sim.plots`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from sim.plot_kit import COLORS, message, new_figure, number, yuan_formatter
from sim.report import campaign_day_number, local_moment, local_time, value_of
from sim.run_dir import RunData
from sim.units import DAY_S

STAGES = ("agents", "exposed", "claimed", "redeemed", "activated")
STAGE_LABELS = {"agents": "Customers", "activated": "Newly active"}


# --- funnel -----------------------------------------------------------------------------------


def funnel_plot(data: RunData) -> tuple[Figure, str]:
    segments = data.summary.get("segments") or {}
    columns = 1 if len(segments) <= 1 else 2
    rows = math.ceil(max(len(segments), 1) / columns)
    figure = new_figure(max(2.6 * rows, 2.8))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    if not segments:
        message(axes[0], "This run reports no segments")
    for ax, (segment, funnel) in zip(axes, segments.items(), strict=False):
        _funnel_panel(ax, segment, funnel)
    for ax in axes[len(segments) :]:
        ax.set_axis_off()
    caption = (
        "Customers (wool-puller accounts) of each segment through exposure, claim and redemption: "
        "mean count (share of the segment) with the p5–p95 range across replications. Newly "
        "active: redeemers who make no purchase of their own in the no-campaign counterfactual, "
        "so active only thanks to a coupon (regular customers shop anyway: 0 is expected)."
    )
    return figure, caption


def _funnel_panel(ax: Axes, segment: str, funnel: dict[str, Any]) -> None:
    stats = [funnel.get(stage) or {} for stage in STAGES]
    means = np.array([number(s.get("mean")) for s in stats])
    low = np.array([number(s.get("p5"), m) for s, m in zip(stats, means, strict=True)])
    high = np.array([number(s.get("p95"), m) for s, m in zip(stats, means, strict=True)])
    y = np.arange(len(STAGES))
    errors = np.vstack([np.clip(means - low, 0, None), np.clip(high - means, 0, None)])
    ax.barh(y, means, color="#4c78a8", xerr=errors, ecolor="#3e4c59", capsize=3)
    ax.set_yticks(y, [STAGE_LABELS.get(stage, stage.capitalize()) for stage in STAGES])
    ax.invert_yaxis()
    top = max(float(high.max(initial=0)), float(means.max(initial=0)), 1.0)
    ax.set_xlim(0, top * 1.45)
    for index, mean in enumerate(means):
        share = f" ({mean / means[0]:.1%})" if means[0] > 0 and index > 0 else ""
        ax.text(max(high[index], mean) + top * 0.02, index, f"{mean:,.0f}{share}", va="center",
                fontsize=9)  # fmt: skip
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.grid(axis="y", visible=False)
    ax.set_title(segment, loc="left")


# --- sell-out time ----------------------------------------------------------------------------


def sellout_plot(data: RunData) -> tuple[Figure, str]:
    """The flagship stock's quota sell-out times (or, when its quota never sold out, the first
    claim its budget refused), over the replications where it happened."""
    stock = data.summary.get("flagship_stock") or "the flagship stock"
    total = len(data.replications["replication"])
    column, event = "sellout_time_s", f"Quota of {stock} sold out"
    sold = _finite(data.replications.get(column))
    budget = _finite(data.replications.get("budget_exhausted_time_s"))
    if sold.size == 0 and budget.size:
        column, event, sold = "budget_exhausted_time_s", f"Budget of {stock} ran out", budget
    figure = new_figure(4.0 if sold.size else 1.6)
    ax = figure.subplots()
    if column not in data.replications:
        message(ax, "replications.csv has no sellout_time_s column")
        return figure, "This run does not report sell-out times."
    if sold.size == 0:
        message(ax, f"{stock}: quota and budget lasted in every replication ({total:,})")
        return figure, f"No replication sold out the quota of {stock} or ran out of its budget."
    days = sold / DAY_S
    bins = int(min(30, max(6, math.ceil(math.sqrt(sold.size) * 2))))
    ax.hist(days, bins=bins, color="#4c78a8", edgecolor="white")
    for q, style in ((50, "-"), (5, ":"), (95, ":")):
        at_s = float(np.percentile(sold, q))
        when = local_time(data.scenario, at_s, seconds=False) or f"day {at_s / DAY_S:.2f}"
        ax.axvline(at_s / DAY_S, color="#3e4c59", linestyle=style, linewidth=1.2,
                   label=f"p{q}: {when}")  # fmt: skip
    _day_axis(ax, data.scenario, float(sold.max() - sold.min()))
    ax.set_ylabel("replications")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    share = sold.size / total
    ax.set_title(f"{event} in {sold.size:,} of {total:,} replications ({share:.0%})", loc="left")
    figure.legend(loc="outside lower center", ncols=3)
    caption = (
        f"When the {'quota' if column == 'sellout_time_s' else 'budget'} of {stock} (the "
        "campaign's flagship stock) ran out, in the replications where it did; the title gives "
        "the probability. Quota sold out: the claim that issued its last coupon. Budget ran "
        "out: the first claim it refused (expiries may release budget later). Solid line: "
        "median; dotted: p5 and p95. The table of stocks gives every stock's figures."
    )
    return figure, caption


def _finite(values: np.ndarray | None) -> np.ndarray:
    return np.array([]) if values is None else values[np.isfinite(values)]


def _day_axis(ax: Axes, scenario: dict[str, Any], spread_s: float) -> None:
    """x in days since the campaign start, ticks labelled with the local date (and the time of
    day when the times cluster within two days, as sell-outs at a window opening do), in the
    campaign's timezone across daylight-saving changes (:func:`sim.report.local_moment`)."""
    with_time = spread_s < 2 * DAY_S

    def tick(days: float, _pos: int | None) -> str:
        moment = local_moment(scenario, days * DAY_S)
        if moment is None:
            return f"day {days:.2f}" if with_time else f"day {days:.0f}"
        if with_time:
            return moment.strftime("%a %m-%d\n%H:%M")
        return f"{moment:%m-%d}\nday {campaign_day_number(scenario, days * DAY_S)}"

    ax.xaxis.set_major_formatter(FuncFormatter(tick))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    zone = (scenario.get("campaign") or {}).get("timezone", "")
    ax.set_xlabel(f"local time ({zone})" if with_time else "date (campaign day)")


# --- risk -------------------------------------------------------------------------------------


def risk_plot(data: RunData) -> tuple[Figure, str]:
    rules = ((data.summary.get("risk") or {}).get("rules")) or {}
    caption = (
        "Per Rule, measured against the simulation's ground truth: precision (share of flags "
        "that were abuse; the dashed line is the 30% enforcement bar), recall, share of "
        "legitimate requests the rule fires on (bar: 0.5%), money saved (each rule on its own "
        "flags; rules overlap, so these do not add up: the overall figure is in the risk "
        "table). Grey hatched bars: shadow rules."
    )
    if not rules:
        figure = new_figure(1.6)
        message(figure.subplots(), "No risk rules were evaluated in this run")
        return figure, "No risk rules were evaluated in this run."
    names = list(rules)
    shadow = [bool(value_of(rules[n].get("shadow"))) for n in names]
    labels = [f"{n} (shadow)" if s else n for n, s in zip(names, shadow, strict=True)]
    figure = new_figure(1.4 + 0.32 * len(names))
    axes = figure.subplots(1, 4, sharey=True, gridspec_kw={"width_ratios": [1, 1, 1, 1.2]})
    panels = (
        ("precision", "Precision", 0.30),
        ("recall", "Recall", None),
        ("legit_blocked_share", "Legit flagged", 0.005),
    )
    for ax, (key, title, bar) in zip(axes, panels, strict=False):
        values = [number(value_of(rules[n].get(key)), math.nan) for n in names]
        _rule_bars(ax, values, shadow, title, bar)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    money = [number(value_of(rules[n].get("money_saved_fen"))) for n in names]
    _rule_bars(axes[3], money, shadow, "Money saved", None)
    axes[3].xaxis.set_major_formatter(yuan_formatter())
    axes[0].set_yticks(np.arange(len(names)), labels)
    axes[0].invert_yaxis()
    return figure, caption


def _rule_bars(
    ax: Axes, values: list[float], shadow: list[bool], title: str, bar: float | None
) -> None:
    y = np.arange(len(values))
    heights = np.nan_to_num(np.array(values, dtype=float), nan=0.0)
    colors = [COLORS["shadow"] if s else COLORS["enforced"] for s in shadow]
    hatches = ["///" if s else "" for s in shadow]
    for index in range(len(values)):
        ax.barh(
            y[index], heights[index], color=colors[index], hatch=hatches[index], edgecolor="white"
        )
    if bar is not None:
        ax.axvline(bar, color=COLORS["budget"], linestyle="--", linewidth=1)
    top = max(float(heights.max(initial=0)), bar or 0, 1e-9)
    ax.set_xlim(0, top * 1.12)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=3))
    ax.grid(axis="y", visible=False)
    ax.set_title(title, loc="left")
