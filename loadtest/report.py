"""The load-test report: ``summary.json``, ``timeseries.csv``, PNG plots and ``report.html``.

Latency percentiles come from the merged HdrHistogram of every attempt (Locust rounds its own);
the per-second series are computed from the recorded attempts. Time is in seconds relative to
the window's opening (negative: the waiting crowd before 10:00); instants shown to people are
local ISO times with their offset (:func:`local_time`). Which side's CPU limited the load is
:mod:`loadtest.cpu`'s part.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

from loadtest import page
from loadtest.checker import ServerView, Verdict
from loadtest.cpu import (
    SERVER_CPU_FILE,
    ServerSample,
    bottleneck,
    generator_summary,
    read_server_cpu,
    server_summary,
)
from loadtest.page import local_time
from loadtest.profile import Profile, shape_cut
from loadtest.records import (
    OUTCOMES,
    Attempt,
    CpuSample,
    RequestFate,
    fates,
    merged_histogram,
    read_cpu,
)
from loadtest.series import RunInfo, open_model, timeseries, write_series

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
SPECTRUM = (0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0)
_ERRORS = ("5xx", "timeout", "connection_error", "in_flight")


def write(
    out: Path,
    info: RunInfo,
    attempts: list[Attempt],
    records: Path,
    server: ServerView,
    verdict: Verdict,
) -> tuple[Path, list[str]]:
    """Write every report file into ``out``; returns the summary path and missed thresholds."""
    cpu = read_cpu(records, info.run_id)
    server_cpu = read_server_cpu(out / SERVER_CPU_FILE)
    series = timeseries(attempts, server, info, cpu)
    summary = build_summary(info, attempts, records, server, verdict, series)
    summary.update(_cpu_sections(cpu, server_cpu))
    checked = threshold_checks(summary, info.profile)
    misses = [c["miss"] for c in checked if not c["passed"]]
    summary["thresholds"] = {"checked": checked, "missed": misses, "passed": not misses}
    path = out / "summary.json"
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    write_series(out / "timeseries.csv", series)
    _render(out, summary, series, cpu, server_cpu)
    return path, misses


def _cpu_sections(cpu: list[CpuSample], server_cpu: list[ServerSample]) -> dict[str, Any]:
    generator, serving = generator_summary(cpu), server_summary(server_cpu)
    return {"load_generator_cpu": generator, "server_cpu": serving,
            "bottleneck": bottleneck(generator, serving)}  # fmt: skip


class ReportInputError(ValueError):
    """A finished run's file is missing or malformed; the message names the file."""


def render(run_dir: Path) -> Path:
    """Re-render the PNG plots and ``report.html`` of a finished load test from its files
    alone (``summary.json``, ``timeseries.csv``, ``records/cpu-*.csv``); returns the page.
    Raises :class:`ReportInputError` naming the file that is missing or malformed."""
    summary_path, series_path = run_dir / "summary.json", run_dir / "timeseries.csv"
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as error:
        raise ReportInputError(f"{summary_path}: expected a load-test summary ({error})") from None
    try:
        with series_path.open(newline="") as handle:
            series = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    except (OSError, ValueError, TypeError) as error:
        expected = f"a readable CSV of numbers ({error})"
        raise ReportInputError(f"{series_path}: expected {expected}") from None
    try:
        cpu = read_cpu(run_dir / "records", str(summary.get("run_id", "")))
        server_cpu = read_server_cpu(run_dir / SERVER_CPU_FILE)
        return _render(run_dir, summary, series, cpu, server_cpu)
    except (KeyError, TypeError, ValueError) as error:
        raise ReportInputError(f"{summary_path}: missing or malformed field {error}") from None


def _render(
    out: Path,
    summary: dict[str, Any],
    series: list[dict[str, float]],
    cpu: list[CpuSample],
    server_cpu: list[ServerSample],
) -> Path:
    plots = _plots(out, series, summary, cpu, server_cpu)
    path = out / "report.html"
    path.write_text(page.render(summary, plots), encoding="utf-8")
    return path


def latency_ms(records: Path, run_id: str = "") -> dict[str, Any]:
    """p50/p90/p99/p99.9/max/mean of every attempt, from the merged HdrHistogram."""
    histogram = merged_histogram(records, run_id)
    count = histogram.get_total_count()
    stats: dict[str, Any] = {"count": count}
    for pct in PERCENTILES:
        value = histogram.get_value_at_percentile(pct) / 1000 if count else None
        stats[f"p{pct:g}"] = value
    stats["max"] = histogram.get_max_value() / 1000 if count else None
    stats["mean"] = round(histogram.get_mean_value() / 1000, 3) if count else None
    spectrum = [[pct, histogram.get_value_at_percentile(pct) / 1000] for pct in SPECTRUM]
    stats["by_percentile"] = spectrum if count else []
    return stats


def build_summary(
    info: RunInfo,
    attempts: list[Attempt],
    records: Path,
    server: ServerView,
    verdict: Verdict,
    series: list[dict[str, float]],
) -> dict[str, Any]:
    folded = fates(attempts)
    return {
        "scenario": info.scenario,
        "seed": info.seed,
        "store": info.store,
        "server_workers": info.workers,
        "locust_processes": info.processes,
        "stock_id": info.stock["id"],
        "run_id": info.run_id,
        "window_open_s": info.window_open_s,
        "setup": setup(info),
        "profile": info.profile.to_dict(),
        "verdict": verdict.to_dict(),
        "throughput": _throughput(info, attempts, series),
        "latency_ms": latency_ms(records, info.run_id),
        "outcomes": _count(a.outcome for a in attempts),
        "request_fates": _count(f.outcome for f in folded.values()),
        **_errors(attempts, folded),
        "sellout": sellout(info, attempts, server),
        "server_status": dict(server.status),
        "open_model": open_model(info, attempts),
    }


def setup(info: RunInfo) -> dict[str, Any]:
    """How the run was set up, for the page's setup table (times as local ISO)."""
    profile = info.profile
    model = f"open, {profile.arrival_rate_per_s:g} claims/s" if profile.open_model else "closed"
    return {
        "scenario": info.scenario, "store": info.store, "server_workers": info.workers,
        "risk": info.risk, "locust_processes": info.processes, "users": profile.users,
        "seed": info.seed, "shape": info.shape, "model": model,
        "shape_cut": shape_cut(profile) if info.shape == "flash" else "",
        "run_date": dt.datetime.fromtimestamp(info.started_s).astimezone().date().isoformat(),
        "test_start": local_time(info.started_s), "window_open": local_time(info.window_open_s),
    }  # fmt: skip


def _throughput(
    info: RunInfo, attempts: list[Attempt], series: list[dict[str, float]]
) -> dict[str, Any]:
    """Answered claims/s (any outcome: a fast "no" counts) from the opening to the last
    answer; coupons issued (201s)/s from the opening to the last 201; the per-second peaks."""
    open_s = info.window_open_s
    answered = [a.done_s for a in attempts if a.outcome != "in_flight" and a.done_s >= open_s]
    issued = [a.done_s for a in attempts if a.outcome == "ok" and a.done_s >= open_s]
    return {
        "attempts": len(attempts),
        "mean_rps_after_open": _rate(len(answered), max(answered, default=open_s) - open_s),
        "issued_rps_after_open": _rate(len(issued), max(issued, default=open_s) - open_s),
        "peak_rps": max((row["achieved_rps"] for row in series), default=0),
        "peak_issued_rps": max((row["ok_rps"] for row in series), default=0),
        "peak_offered_rps": max((row["offered_rps"] for row in series), default=0),
    }


def _rate(count: int, span_s: float) -> float | None:
    return round(count / span_s, 1) if span_s > 0 else None


def _errors(attempts: list[Attempt], folded: dict[str, RequestFate]) -> dict[str, Any]:
    """``error_rate``: request ids whose fate stayed unknown (what ``--max-error-rate``
    bounds; a retry that got its answer is no error); the same per attempt; retries."""
    unknown = sum(1 for f in folded.values() if f.outcome in _ERRORS)
    unknown_attempts = sum(1 for a in attempts if a.outcome in _ERRORS)
    return {
        "error_rate": _share(unknown, len(folded)),
        "attempt_error_rate": _share(unknown_attempts, len(attempts)),
        "retried_attempts": sum(1 for a in attempts if a.attempt > 1),
    }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _count(names: Any) -> dict[str, int]:
    counts = Counter(names)
    return {name: counts.get(name, 0) for name in OUTCOMES}


def sellout(info: RunInfo, attempts: list[Attempt], server: ServerView) -> dict[str, Any]:
    """When the quota ran out: the last coupon's claim time, and the first 'sold out' answer."""
    quota = int(server.stock["quota"])
    issued = int(server.status["issued"])
    last = max((float(c["claimed_s"]) for c in server.claims), default=None)
    first_answer = min((a.done_s for a in attempts if a.outcome == "sold_out"), default=None)
    open_s = info.window_open_s
    return {
        "sold_out": issued >= quota,
        "quota": quota,
        "issued": issued,
        "sellout_s": round(last - open_s, 3) if issued >= quota and last is not None else None,
        "first_sold_out_answer_s": None
        if first_answer is None
        else round(first_answer - open_s, 3),
    }


def threshold_checks(summary: dict[str, Any], profile: Profile) -> list[dict[str, Any]]:
    """Every threshold set, k6-style: its bound, the measured value, and whether it held
    (a value that could not be measured misses its threshold)."""
    throughput = summary["throughput"]
    measured = (
        ("max_p99_ms", profile.max_p99_ms, summary["latency_ms"]["p99"], "p99 {} ms > {}"),
        ("min_rps", profile.min_rps, throughput["mean_rps_after_open"],
         "mean answered rps {} < {}"),
        ("min_issued_rps", profile.min_issued_rps, throughput.get("issued_rps_after_open"),
         "mean issued (201) rps {} < {}"),
        ("max_error_rate", profile.max_error_rate, summary["error_rate"], "error rate {} > {}"),
    )  # fmt: skip
    checks = []
    for name, bound, value, text in measured:
        if bound is None:
            continue
        low = name.startswith("min_")
        held = value is not None and (value >= bound if low else value <= bound)
        miss = "" if held else text.format(value, f"{name} {bound}")
        checks.append({"name": name, "bound": bound, "measured": value, "passed": held,
                       "miss": miss})  # fmt: skip
    return checks


def thresholds(summary: dict[str, Any], profile: Profile) -> list[str]:
    """Thresholds missed (each names the measured value and the bound)."""
    return [c["miss"] for c in threshold_checks(summary, profile) if not c["passed"]]


def _plots(
    out: Path,
    series: list[dict[str, float]],
    summary: dict[str, Any],
    cpu: list[CpuSample],
    server_cpu: list[ServerSample],
) -> dict[str, Path]:
    from loadtest import plots

    by_percentile = [(p, ms) for p, ms in summary["latency_ms"].get("by_percentile", [])]
    open_s = float(summary["window_open_s"])
    return {
        "Offered vs achieved requests/s, and the crowd": plots.rps(
            out / "rps.png", series, summary
        ),
        "Latency by percentile, all answered claims (HdrHistogram)": plots.percentiles(
            out / "percentiles.png", by_percentile
        ),
        "Latency percentiles per second": plots.latency(out / "latency.png", series),
        "Outcomes": plots.outcomes(out / "outcomes.png", series, summary),
        "CPU: load generator and server": plots.cpu(out / "cpu.png", cpu, server_cpu, open_s),
    }
