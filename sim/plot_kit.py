"""The common kit of the forecast report's plots (:mod:`sim.plots`, :mod:`sim.plots_outcomes`):
the fixed style, figure size and colours, and the axis and band helpers they share.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

DPI = 100
WIDTH_IN = 10.5
COLORS = {"spent": "#1f77b4", "reserved": "#ff7f0e", "budget": "#b42318", "claims": "#1f77b4"}
COLORS |= {"redemptions": "#2ca02c", "enforced": "#1f77b4", "shadow": "#9aa5b1"}
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Zen Hei", "Source Han Sans SC")
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "font.family": "sans-serif",
    "path.simplify": True,
}


def plot_style() -> Any:  # rc_context wants literal keys; the keys are checked at runtime
    """The fixed matplotlib style, with the CJK fonts installed here (scenario texts)."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    families = ["DejaVu Sans", *(name for name in CJK_FONTS if name in installed)]
    return STYLE | {"font.sans-serif": families}


def new_figure(height_in: float) -> Figure:
    """A report-wide figure ``height_in`` inches tall (Agg, no pyplot state)."""
    return Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")


def message(ax: Axes, text: str) -> None:
    """``text`` in place of a plot that has nothing to show."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=13, wrap=True,
            transform=ax.transAxes, color="#3e4c59")  # fmt: skip


def yuan_formatter() -> FuncFormatter:
    """Axis ticks in yuan from fen values: ¥950, ¥25k, ¥1.25M."""

    def tick(fen: float, _pos: int | None) -> str:
        yuan = fen / 100
        if abs(yuan) >= 1e6:
            return f"¥{yuan / 1e6:.3g}M"
        if abs(yuan) >= 1e3:
            return f"¥{yuan / 1e3:.3g}k"
        return f"¥{yuan:,.0f}"

    return FuncFormatter(tick)


def weekly_ticks(ax: Axes, hours: int) -> None:
    """Ticks every 1 or 2 weeks for campaigns of weeks to months, so weekly windows line up."""
    if 14 * 24 < hours <= 140 * 24:
        ax.xaxis.set_major_locator(MultipleLocator(7 * math.ceil(hours / 24 / 70)))


def time_axis(hours: int) -> tuple[float, str]:
    """(hours per unit, axis label): days for campaigns longer than three days, else hours."""
    return (
        (24.0, "days since campaign start") if hours > 72 else (1.0, "hours since campaign start")
    )


def band(ax: Axes, x: np.ndarray, series: np.ndarray, color: str, name: str) -> None:
    """Mean line and 5–95% band of ``series`` (replications × time)."""
    low, high = np.percentile(series, [5, 95], axis=0)
    ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
    ax.plot(x, series.mean(axis=0), color=color, linewidth=1.6, label=f"{name} (mean, p5–p95 band)")


def number(value: Any, default: float = 0.0) -> float:
    """``value`` as a float when it is a finite number, else ``default``."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else default
