"""The PNG plots of a forecast report, drawn with matplotlib's Agg renderer.

Every plot is a pure function of :class:`sim.run_dir.RunData` written to a fixed file name. Output
is deterministic: fixed size and DPI, a fixed style (no user matplotlibrc leaks in), no software
tag or timestamp in the PNG metadata. Money axes are in yuan (the data is fen); long campaigns are
drawn in days, short ones in hours. Bands are the 5–95% range across replications.

Here: :func:`render_all` and the hourly series (budget burn, claims and redemptions); the
outcome plots (funnel, sell-out time, risk rules) are in :mod:`sim.plots_outcomes`, the shared
style and helpers in :mod:`sim.plot_kit`.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sim.plot_kit import (
    COLORS,
    DPI,
    band,
    message,
    new_figure,
    plot_style,
    time_axis,
    weekly_ticks,
    yuan_formatter,
)
from sim.plots_outcomes import funnel_plot, risk_plot, sellout_plot
from sim.report import fmt, total_budget_fen, value_of
from sim.run_dir import RunData

MAX_STOCK_PANELS = 6
OFF_SCALE_SHARE = 0.4  # draw the budget line only when the burn reaches 40% of it


class PlotFile(NamedTuple):
    """One written plot: file stem, title, a caption for the report, and its path."""

    name: str
    title: str
    caption: str
    path: Path


def render_all(data: RunData, out_dir: Path) -> list[PlotFile]:
    """Draw every plot of the report into ``out_dir`` (overwriting) and list them in order."""
    plots = (
        ("budget_burn", "Budget burn", _budget_burn),
        ("claims_redemptions", "Claims and redemptions per hour", _claims_redemptions),
        ("funnel", "Funnel per segment", funnel_plot),
        ("sellout_time", "Sell-out time", sellout_plot),
        ("risk", "Risk rules against ground truth", risk_plot),
    )
    written = []
    with matplotlib.rc_context(plot_style()), warnings.catch_warnings():
        # Scenario texts may hold CJK; without a CJK font matplotlib draws boxes and warns.
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        for name, title, draw in plots:
            figure, caption = draw(data)
            path = out_dir / f"{name}.png"
            figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
            written.append(PlotFile(name, title, caption, path))
    return written


# --- budget burn ------------------------------------------------------------------------------


def _budget_burn(data: RunData) -> tuple[Figure, str]:
    ts = data.timeseries
    panels: list[tuple[str, list[int]]] = []
    if len(ts.stock_ids) > 1:
        panels.append(("All stocks", list(range(len(ts.stock_ids)))))
    panels += [(ts.stock_ids[i], [i]) for i in _panel_order(data)[:MAX_STOCK_PANELS]]
    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(max(len(panels), 1) / columns)
    figure = new_figure(4.2 if rows == 1 else 3.4 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    if ts.hours == 0:
        message(axes[0], "No time series in this run")
    for ax, (title, stock_rows) in zip(axes, panels, strict=False):
        _budget_panel(ax, data, title, stock_rows)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    if panels and ts.hours:
        legend: dict[str, Any] = {}
        for ax in axes:
            for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
                legend.setdefault(text, handle)
        figure.legend(legend.values(), legend.keys(), loc="outside upper left", ncols=len(legend))
    shown = (
        ""
        if len(ts.stock_ids) <= MAX_STOCK_PANELS
        else f" The flagship stock and the largest budgets: {MAX_STOCK_PANELS} of "
        f"{len(ts.stock_ids)} stocks (the table of stocks lists them all)."
    )
    caption = (
        "Budget spent (redeemed discounts) and reserved (issued coupons not yet redeemed or "
        "expired), mean with the 5–95% band across replications; dashed: the budget (left off "
        f"the scale while the burn stays under {OFF_SCALE_SHARE:.0%} of it).{shown}"
    )
    return figure, caption


def _panel_order(data: RunData) -> list[int]:
    """Stock rows of the time series, the flagship first, then by budget (largest first)."""
    stocks = data.summary.get("stocks") or {}
    flagship = data.summary.get("flagship_stock")

    def rank(index: int) -> tuple[bool, float, str]:
        stock_id = data.timeseries.stock_ids[index]
        budget = value_of((stocks.get(stock_id) or {}).get("budget_fen"))
        return (stock_id != flagship, -float(budget or 0), stock_id)

    return sorted(range(len(data.timeseries.stock_ids)), key=rank)


def _budget_panel(ax: Axes, data: RunData, title: str, stock_rows: list[int]) -> None:
    ts = data.timeseries
    unit, xlabel = time_axis(ts.hours)
    x = np.arange(ts.hours + 1) / unit
    start = np.zeros((len(ts.replications), 1))
    stocks = data.summary.get("stocks") or {}
    if len(stock_rows) == 1:
        budget_fen = value_of((stocks.get(ts.stock_ids[stock_rows[0]]) or {}).get("budget_fen"))
    else:
        budget_fen = total_budget_fen(data.summary)
    highest = 0.0
    for column, name in (("budget_spent_fen", "spent"), ("budget_reserved_fen", "reserved")):
        series = np.hstack([start, ts.columns[column][stock_rows].sum(axis=0)])
        band(ax, x, series, COLORS[name], name.capitalize())
        highest = max(highest, float(series.max(initial=0)))
    if isinstance(budget_fen, int | float) and budget_fen > 0:
        title = f"{title}\nbudget {fmt(budget_fen, 'money')}"
        # A budget far above the burn would flatten the curves onto the axis: leave it off scale.
        if highest >= budget_fen * OFF_SCALE_SHARE:
            ax.axhline(budget_fen, color=COLORS["budget"], linestyle="--", label="Budget")
            highest = max(highest, float(budget_fen))
        else:
            title += f", off scale (peak use {highest / budget_fen:.1%})"
    ax.set_ylim(0, highest * 1.08 or 1)
    ax.set_xlim(0, x[-1] if x[-1] > 0 else 1)
    ax.yaxis.set_major_formatter(yuan_formatter())
    ax.set_title(title, loc="left")
    ax.set_xlabel(xlabel)
    weekly_ticks(ax, ts.hours)


# --- claims and redemptions -------------------------------------------------------------------


def _claims_redemptions(data: RunData) -> tuple[Figure, str]:
    ts = data.timeseries
    figure = new_figure(5.6)
    axes = figure.subplots(2, 1, sharex=True)
    unit, xlabel = time_axis(ts.hours)
    if ts.hours == 0:
        message(axes[0], "No time series in this run")
    x = (np.arange(ts.hours) + 0.5) / unit
    for ax, column in zip(axes, ("claims", "redemptions"), strict=True):
        if ts.hours:
            band(ax, x, ts.columns[column].sum(axis=0), COLORS[column], column.capitalize())
            ax.set_xlim(0, ts.hours / unit)
        ax.set_ylim(bottom=0)
        ax.set_ylabel(f"{column} per hour")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
        ax.legend(loc="upper right")
    axes[1].set_xlabel(xlabel)
    weekly_ticks(axes[1], ts.hours)
    caption = (
        "Claims and redemptions counted per hour over all stocks: mean with the 5–95% band "
        "across replications. Peaks are the claim windows opening."
    )
    return figure, caption
