"""PNG plots of a load test (matplotlib, Agg backend). Time axes are seconds from the opening."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from loadtest.records import by_pid

_COLORS = {"ok": "#2a7d2e", "sold_out": "#8c8c8c", "limit": "#e0a030", "risk_rejected": "#8e44ad",
           "not_eligible": "#b07aa1", "not_open": "#4e79a7", "rate_limited": "#f28e2b",
           "rejected_other": "#bab0ac", "5xx": "#b3261e", "timeout": "#d62728",
           "connection_error": "#7f0000", "in_flight": "#ff9da7"}  # fmt: skip
_PROCESS_LINE: dict[str, dict[str, Any]] = {
    "Locust": {"linewidth": 1.3},
    "server": {"linestyle": "--", "linewidth": 1.5},
}


def _figure(height: float = 4.0) -> tuple[Any, Any]:
    fig, ax = plt.subplots(figsize=(11, height), dpi=100)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def _opening(ax: Any, sellout_s: float | None = None) -> None:
    ax.axvline(0, color="#444", linestyle="--", linewidth=1, label="window opens")
    if sellout_s is not None:
        ax.axvline(sellout_s, color="#b3261e", linestyle=":", linewidth=1.2, label="sold out")


def rps(path: Path, series: Sequence[dict[str, float]], summary: dict[str, Any]) -> Path:
    """Offered (sent) vs achieved (answered) requests/s, the open model's target, 201s/s, and
    the crowd (users) behind them."""
    fig, ax = _figure(4.6)
    t = [row["t_s"] for row in series]
    ax.step(t, [row["offered_rps"] for row in series], where="post", label="offered (sent/s)",
            color="#4e79a7", linewidth=1.6)  # fmt: skip
    ax.step(t, [row["achieved_rps"] for row in series], where="post",
            label="achieved (answered/s)", color="#f28e2b", linewidth=1.6)  # fmt: skip
    ax.step(t, [row["ok_rps"] for row in series], where="post", label="201 coupons/s",
            color="#2a7d2e", linewidth=1.2)  # fmt: skip
    if any(row["target_rps"] for row in series):
        ax.plot(t, [row["target_rps"] for row in series], label="target arrival rate",
                color="#222", linestyle="-.", linewidth=1)  # fmt: skip
        ax.step(t, [row.get("arrivals_rps", 0) for row in series], where="post",
                label="customers' new claims/s", color="#76b7b2", linewidth=1.2)  # fmt: skip
    _opening(ax, summary["sellout"]["sellout_s"])
    ax.set_xlabel("seconds from the opening (negative: the crowd waiting for 10:00)")
    ax.set_ylabel("requests / s")
    crowd = _crowd(ax, series)
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = crowd.get_legend_handles_labels()
    ax.legend(lines + more, labels + more_labels, loc="upper center", fontsize=9, ncol=4,
              bbox_to_anchor=(0.5, -0.16), frameon=False)  # fmt: skip
    return _save(fig, path)


def _crowd(ax: Any, series: Sequence[dict[str, float]]) -> Any:
    """The users on a second axis: planned by the shape, and running in Locust."""
    crowd = ax.twinx()
    t = [row["t_s"] for row in series]
    crowd.step(t, [row["shape_users"] for row in series], where="post", color="#999",
               linestyle="--", linewidth=1, label="users planned (shape)")  # fmt: skip
    crowd.step(t, [row["users"] for row in series], where="post", color="#bbb", linewidth=3,
               alpha=0.6, label="users running")  # fmt: skip
    crowd.set_ylabel("users")
    crowd.set_ylim(bottom=0)
    ax.set_zorder(crowd.get_zorder() + 1)  # the request rates in front of the crowd
    ax.patch.set_visible(False)
    return crowd


def latency(path: Path, series: Sequence[dict[str, float]]) -> Path:
    """p50/p90/p99/max of the attempts answered in each second (log scale)."""
    fig, ax = _figure()
    t = [row["t_s"] for row in series]
    for key, color in (("p50_ms", "#4e79a7"), ("p90_ms", "#59a14f"), ("p99_ms", "#f28e2b"),
                       ("max_ms", "#b3261e")):  # fmt: skip
        values = [row[key] for row in series]
        ax.plot(t, values, label=key.removesuffix("_ms"), color=color, marker=".", linewidth=1.3)
    if any(not math.isnan(row["max_ms"]) and row["max_ms"] > 0 for row in series):
        _log_ms(ax)
    _opening(ax)
    ax.set_xlabel("seconds from the opening")
    ax.set_ylabel("latency (ms)")
    ax.legend(loc="upper right", fontsize=9)
    return _save(fig, path)


def outcomes(path: Path, series: Sequence[dict[str, float]], summary: dict[str, Any]) -> Path:
    """Totals by outcome class (attempts), and 201s vs unknowns per second."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=100,
                                      gridspec_kw={"width_ratios": [1, 1.4]})  # fmt: skip
    counts = {k: v for k, v in summary["outcomes"].items() if v}
    names = list(counts)[::-1]
    bars = left.barh(names, [counts[n] for n in names],
                     color=[_COLORS.get(n, "#999") for n in names])  # fmt: skip
    left.bar_label(bars, padding=3, fontsize=9)
    left.set_xlabel("attempts")
    left.set_xlim(0, max(counts.values(), default=1) * 1.2)
    left.grid(True, axis="x", alpha=0.3)
    t = [row["t_s"] for row in series]
    right.step(t, [row["ok_rps"] for row in series], where="post", color=_COLORS["ok"],
               label="201 / s")  # fmt: skip
    right.step(t, [row["unknown_rps"] for row in series], where="post", color=_COLORS["timeout"],
               label="unknown (timeout, 5xx, conn.) / s")  # fmt: skip
    right.axvline(0, color="#444", linestyle="--", linewidth=1)
    right.set_xlabel("seconds from the opening")
    right.grid(True, alpha=0.3)
    right.legend(loc="upper right", fontsize=9)
    return _save(fig, path)


def cpu(path: Path, samples: Sequence[Any], server: Sequence[Any], open_s: float) -> Path:
    """CPU of each Locust process and each server process (100 = one core; server dashed)
    with the saturation line, the machine's CPU (100 = every core), and the Locust processes'
    event-loop lag (how late a 1 s sleep woke up)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5.5), dpi=100, sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})  # fmt: skip
    _process_lines("Locust", samples, open_s, top, lag=bottom)
    _process_lines("server", server, open_s, top)
    if server:
        machine = sorted({(p.t_s, p.machine_percent) for p in server})
        top.plot([m[0] - open_s for m in machine], [m[1] for m in machine], color="#999",
                 linestyle=":", linewidth=1.2, label="machine (all cores)")  # fmt: skip
    top.axhline(90, color="#b3261e", linestyle=":", linewidth=1, label="90% (saturated)")
    bottom.axhline(250, color="#b3261e", linestyle=":", linewidth=1, label="250 ms (lagging)")
    for ax in (top, bottom):
        ax.axvline(0, color="#444", linestyle="--", linewidth=1)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8, ncol=3)
    top.set_ylim(0, max([110.0, *(p.cpu_percent + 10 for p in server)]))
    top.set_ylabel("CPU % of one core")
    bottom.set_ylabel("Locust event-loop lag (ms)")
    bottom.set_xlabel("seconds from the opening")
    return _save(fig, path)


def _process_lines(
    side: str, samples: Sequence[Any], open_s: float, cpu: Any, lag: Any = None
) -> None:
    """One CPU line per process of ``side`` (``Locust`` solid, ``server`` dashed) on ``cpu``,
    and its event-loop lag on ``lag`` when given (only Locust measures it)."""
    for pid, points in by_pid(samples).items():
        t = [p.t_s - open_s for p in points]
        label = f"{side} {points[0].role} {pid}"
        cpu.plot(t, [p.cpu_percent for p in points], label=label, **_PROCESS_LINE[side])
        if lag is not None:
            lag.plot(t, [p.loop_lag_ms for p in points], label=label, linewidth=1.3)


def _log_ms(ax: Any) -> None:
    """A log y axis labelled in plain milliseconds (1, 10, 100, 1000), not 10^n."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def percentiles(path: Path, points: Sequence[tuple[float, float]]) -> Path:
    """The latency by percentile of every answered attempt (HdrHistogram): the tail in full,
    on the usual axis of 1 / (1 - percentile)."""
    fig, ax = _figure(3.8)
    if not points:
        ax.text(0.5, 0.5, "no answered claim", ha="center", transform=ax.transAxes)
        return _save(fig, path)
    ticks = [p for p, _ in points]
    x = [1 / (1 - min(p, 99.999) / 100) for p in ticks]
    ax.plot(x, [max(ms, 0.001) for _, ms in points], color="#4e79a7", marker="o", linewidth=1.5)
    for xi, (p, ms) in zip(x, points, strict=True):
        if p >= 50:
            ax.annotate(f"{ms:.0f}" if ms >= 10 else f"{ms:.1f}", (xi, ms), fontsize=8,
                        textcoords="offset points", xytext=(0, 6), ha="center")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{p:g}%" if p < 100 else "max" for p in ticks], fontsize=8)
    ax.minorticks_off()
    _log_ms(ax)
    ax.set_xlabel("percentile of all answered claims")
    ax.set_ylabel("latency (ms)")
    return _save(fig, path)
