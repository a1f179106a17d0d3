"""Render a finished run directory into PNG plots and a self-contained ``report.html``.

:func:`render` reads ONLY the run directory (:mod:`sim.run_dir`), so a run can be re-rendered at
any time with ``couponlab report RUN_DIR``. Output is deterministic: the same run directory gives
byte-identical PNGs and HTML (no timestamps, fixed DPI, no software tag). Bad input raises
:class:`~sim.run_dir.RunDirError`, whose message names the file, the place in it and what was
expected. The page itself is built by :mod:`sim.report_html`, the plots by :mod:`sim.plots`.

Also here: the number and time formats shared by the plots, the page and the CLI. Local times
are wall-clock times in the campaign's timezone (``campaign.timezone``), daylight saving
included.
"""

from __future__ import annotations

import functools
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sim.run_dir import (
    OTHER_SCENARIO,
    REPLICATIONS,
    REPORT,
    RUN_FACTS,
    SCENARIO,
    SUMMARY,
    TIMESERIES,
    TIMESERIES_COLUMNS,
    RunData,
    RunDirError,
    Timeseries,
    check_stats,
    load_run,
)
from sim.units import DAY_S

__all__ = [
    "OTHER_SCENARIO",
    "REPLICATIONS",
    "REPORT",
    "RUN_FACTS",
    "SCENARIO",
    "SUMMARY",
    "TIMESERIES",
    "TIMESERIES_COLUMNS",
    "RunData",
    "RunDirError",
    "Timeseries",
    "campaign_day",
    "campaign_day_number",
    "campaign_start",
    "check_stats",
    "fmt",
    "fmt_duration",
    "load_run",
    "local_moment",
    "local_time",
    "render",
    "total_budget_fen",
    "value_of",
]


def render(run_dir: Path) -> Path:
    """(Re)write every PNG plot and ``report.html`` in ``run_dir``; return the report path.

    Raises :class:`RunDirError` when an input file is missing or malformed.
    """
    from sim import plots  # matplotlib is imported only when a report is drawn
    from sim.report_html import build_html  # imports this module's readers and formatters

    data = load_run(Path(run_dir))
    figures = plots.render_all(data, data.run_dir)
    html_text = build_html(data, figures)
    report_path = data.run_dir / REPORT
    report_path.write_text(html_text, encoding="utf-8")
    return report_path


# --- formatting shared by the plots and the page ----------------------------------------------


def fmt(value: Any, kind: str, *, signed: bool = False) -> str:
    """Format a number for people: ¥ from fen (cents below ¥10,000, whole yuan above), % for
    shares, 12,345 for counts, 3.25× for ratios.

    ``signed`` (differences) prefixes positive values with ``+`` and shows shares in percentage
    points. None and non-finite values are shown as an em dash.
    """
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    size = abs(value)
    if kind == "money":  # fen: yuan, to the fen below ¥10,000, to the yuan above
        yuan = round(size) / 100
        return f"{sign}¥{yuan:,.2f}" if yuan < 10_000 else f"{sign}¥{yuan:,.0f}"
    if kind == "share":
        digits = 2 if 0 < size < 0.01 else 1
        return f"{sign}{size * 100:.{digits}f}{' pp' if signed else '%'}"
    if kind == "duration":
        return sign + fmt_duration(size)
    if kind == "ratio":
        return f"{sign}{size:,.2f}×"
    digits = 0 if size == round(size) or size >= 100 else (1 if size >= 1 else 2)
    return f"{sign}{size:,.{digits}f}"


def fmt_duration(seconds: float) -> str:
    """A duration to the second below an hour, to the minute above: ``42 d 10 h 00 min``.

    Sell-outs cluster seconds after a window opens, weeks into a campaign, so rounding to a
    tenth of a day would hide every difference that matters.
    """
    total_s = round(seconds)
    if total_s < 60:
        return f"{total_s} s"
    minutes, secs = divmod(total_s, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, mins = divmod(round(seconds / 60), 60)
    if hours < 72:
        return f"{hours} h {mins:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h {mins:02d} min"


def value_of(entry: Any) -> Any:
    """A plain number, or the mean when a STATS object stands where a number was expected."""
    return entry.get("mean") if isinstance(entry, dict) else entry


def total_budget_fen(summary: dict[str, Any]) -> int:
    """Sum of the stocks' budgets in fen (0 when the summary lists no stocks)."""
    stocks = summary.get("stocks") or {}
    return sum(int(value_of(s.get("budget_fen")) or 0) for s in stocks.values())


def local_time(scenario: dict[str, Any], offset_s: Any, seconds: bool = True) -> str:
    """Campaign start + ``offset_s`` as local wall time (:func:`local_moment`), when the
    scenario states its start."""
    moment = local_moment(scenario, offset_s)
    if moment is None:
        return ""
    text = moment.strftime("%a %Y-%m-%d %H:%M:%S" if seconds else "%a %Y-%m-%d %H:%M")
    return text + (moment.strftime(" %z") if moment.tzinfo and seconds else "")


def local_moment(scenario: dict[str, Any], offset_s: Any) -> datetime | None:
    """The moment ``offset_s`` seconds after the campaign start, in the campaign's timezone:
    the wall time a customer's clock shows, across daylight-saving changes (the start's own
    fixed offset when the scenario names no known timezone; naive for a start without an
    offset). None without a stated start."""
    start = campaign_start(scenario)
    if start is None or not isinstance(offset_s, int | float) or not math.isfinite(offset_s):
        return None
    moment = start + timedelta(seconds=float(offset_s))  # the instant (a fixed-offset time)
    zone = _zone((scenario.get("campaign") or {}).get("timezone"))
    return moment if zone is None or moment.tzinfo is None else moment.astimezone(zone)


@functools.lru_cache(maxsize=16)
def _zone(name: object) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def campaign_start(scenario: dict[str, Any]) -> datetime | None:
    """The campaign's start as an aware ``datetime`` (None when the scenario lacks it)."""
    start = (scenario.get("campaign") or {}).get("start")
    if isinstance(start, str):
        try:
            start = datetime.fromisoformat(start)
        except ValueError:
            return None
    return start if isinstance(start, datetime) else None


def campaign_day_number(scenario: dict[str, Any], offset_s: float) -> int:
    """The campaign day (1 = the first) of ``offset_s``: local days of wall time since the
    start, as ``+Nd`` counts them (a daylight-saving day has 23 or 25 hours); whole 24-hour
    days without a stated start."""
    moment, start = local_moment(scenario, offset_s), local_moment(scenario, 0.0)
    if moment is None or start is None:
        return int(offset_s // DAY_S) + 1
    wall = moment.replace(tzinfo=None) - start.replace(tzinfo=None)
    return wall // timedelta(days=1) + 1


def campaign_day(scenario: dict[str, Any], offset_s: Any) -> str:
    """``day 19, Tue 2026-12-22 14:05``: the campaign day (:func:`campaign_day_number`) and the
    local time of ``offset_s`` seconds after the start; ``day 19.6`` without a stated start."""
    if not isinstance(offset_s, int | float) or not math.isfinite(offset_s):
        return "—"
    local = local_time(scenario, offset_s, seconds=False)
    if not local:
        return f"day {offset_s / DAY_S + 1:.1f}"
    return f"day {campaign_day_number(scenario, offset_s)}, {local}"
