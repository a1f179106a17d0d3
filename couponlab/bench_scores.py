"""The pure half of ``couponlab bench`` (:mod:`couponlab.bench`): the gate's values, parsing of
pytest-benchmark's JSON and of saved runs, normalised scores, comparisons, spreads and tables.

Two yardsticks. A benchmark is divided by the calibration workload it resembles: ``cpu``
(``test_bench_calibration``, a cache-resident mix of dict, tuple and attribute work, the
default) or ``heap`` (``test_bench_calibration_heap``, thousands of live SimPy generators and a
big event heap, for the simulation benchmarks). Machines differ in more than one speed: on the
CI machine of 2026-11-23 the cpu yardstick ran 1.27x slower than on the reference machine while
the heap-heavy workloads ran 2.0-2.5x slower, so one yardstick cannot normalise both. A
benchmark names its yardstick in ``benchmark.extra_info["yardstick"]``.

Reference benchmarks (``extra_info["reference"] = True``) time SimPy or CPython themselves, the
floor that a hot path is compared with; no change to Couponlab can move them, so they are
reported and never gated.

Nothing here measures, reads files or prints; :mod:`couponlab.bench` does the I/O and re-exports
every public name.
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

CALIBRATION = "test_bench_calibration"
HEAP_CALIBRATION = "test_bench_calibration_heap"
# yardstick -> the calibration benchmark that measures it
CALIBRATIONS = {"cpu": CALIBRATION, "heap": HEAP_CALIBRATION}
DEFAULT_YARDSTICK = "cpu"
FORMAT = "couponlab-bench/3"
# --timer: the benchmark process's CPU time (default) or wall-clock time (pytest-benchmark timers).
TIMERS = {"cpu": "time.process_time", "wall": "time.perf_counter"}
STATISTICS = ("p10", "min", "median")


class BenchError(Exception):
    """Bad input for the gate: a flag or file value, with what was expected."""

    def __init__(self, where: str, value: object, expected: str) -> None:
        self.where = where
        super().__init__(f"{where} = {value!r}: expected {expected}")


@dataclasses.dataclass(frozen=True)
class Score:
    """One benchmark of one run: seconds per call (median, fastest round and 10th percentile of
    the rounds), normalised score (the run's statistic divided by the ``yardstick``
    calibration's), and whether it is a ``reference`` (reported, never gated)."""

    FIELDS: ClassVar[tuple[str, ...]] = ("median_s", "min_s", "p10_s", "normalised")

    name: str
    median_s: float
    min_s: float
    p10_s: float
    normalised: float
    yardstick: str = DEFAULT_YARDSTICK
    reference: bool = False

    def raw_s(self, statistic: str) -> float:
        """The time that is normalised: ``p10_s``, ``min_s`` or ``median_s`` (one of
        :data:`STATISTICS`)."""
        return float(getattr(self, f"{statistic}_s"))


@dataclasses.dataclass(frozen=True)
class BenchRun:
    """One run of the suite in the gate's own compact format (see :func:`run_to_dict`).

    ``statistic`` ("p10", "min" or "median") is the per-benchmark time that is normalised;
    ``calibration_s`` maps each yardstick to that statistic of its calibration benchmark.
    """

    statistic: str
    calibration_s: Mapping[str, float]
    scores: Mapping[str, Score]
    machine: dict[str, Any]
    commit: str | None
    created: str
    timer: str | None = None  # "cpu" or "wall"; None in a file that did not record it


@dataclasses.dataclass(frozen=True)
class Change:
    """One row of a comparison. ``status``: ok, regressed, improved, new, missing or reference."""

    name: str
    baseline: float | None
    current: float | None
    change_pct: float | None
    status: str


def calibration_yardstick(name: str) -> str | None:
    """The yardstick a calibration benchmark measures (also its ``[first]``/``[last]`` runs)."""
    for yardstick, calibration in CALIBRATIONS.items():
        if name == calibration or name.startswith(calibration + "["):
            return yardstick
    return None


def is_calibration(name: str) -> bool:
    """A calibration benchmark or one of its parametrised runs (``[first]``, ``[last]``)."""
    return calibration_yardstick(name) is not None


def run_from_pytest_json(data: Mapping[str, Any], created: str, statistic: str) -> BenchRun:
    """Build a :class:`BenchRun` from pytest-benchmark's ``--benchmark-json`` output.

    Each benchmark's ``statistic`` (p10, min or median seconds) is divided by its yardstick's
    calibration; ``p10`` needs the rounds' times (``--benchmark-save-data``). Raises
    :class:`BenchError` when the cpu calibration is absent, when a benchmark names an unknown
    yardstick or one that did not run, or a calibration is not positive.
    """
    benchmarks: dict[str, Mapping[str, Any]] = {}
    calibrations: dict[str, list[Mapping[str, Any]]] = {}
    for bench in data.get("benchmarks", []):
        yardstick = calibration_yardstick(bench["name"])
        if yardstick is not None:
            calibrations.setdefault(yardstick, []).append(bench["stats"])
            continue
        name = bench["name"] if bench["name"] not in benchmarks else bench["fullname"]
        benchmarks[name] = bench
    calibration_s = _calibrations(calibrations, statistic)
    scores = {
        CALIBRATIONS[yardstick]: Score(
            CALIBRATIONS[yardstick],
            median_s=_fastest(runs, "median"),
            min_s=_fastest(runs, "min"),
            p10_s=_fastest(runs, "p10"),
            normalised=1.0,
            yardstick=yardstick,
        )
        for yardstick, runs in calibrations.items()
    }
    for name, bench in benchmarks.items():
        scores[name] = _score(name, bench, statistic, calibration_s)
    commit_info = data.get("commit_info", {})
    commit = commit_info.get("id")
    if commit and commit_info.get("dirty"):
        commit += "+dirty"
    return BenchRun(statistic, calibration_s, scores, _machine(data), commit, created)


def _fastest(runs: Sequence[Mapping[str, Any]], key: str) -> float:
    # A calibration runs first and last in the session; the faster run is the machine's speed.
    return min(statistic_s(stats, key) for stats in runs)


def statistic_s(stats: Mapping[str, Any], statistic: str) -> float:
    """``statistic`` of one benchmark's pytest-benchmark ``stats``: its ``min`` or ``median``,
    or ``p10``, the 10th percentile of its rounds (linear interpolation, like numpy's default),
    which needs the rounds' times (``stats["data"]``)."""
    if statistic != "p10":
        return float(stats[statistic])
    data = [float(value) for value in stats.get("data") or ()]
    if not data:
        expected = "the rounds' times (--benchmark-save-data)"
        raise BenchError("benchmark run: stats.data", None, expected)
    if len(data) == 1:  # statistics.quantiles needs two points
        return data[0]
    return statistics.quantiles(data, n=10, method="inclusive")[0]


def _calibrations(
    calibrations: Mapping[str, Sequence[Mapping[str, Any]]], statistic: str
) -> dict[str, float]:
    calibration_s = {
        yardstick: _fastest(runs, statistic) for yardstick, runs in calibrations.items()
    }
    if DEFAULT_YARDSTICK not in calibration_s:
        raise BenchError("benchmark run", sorted(calibration_s), f"a {CALIBRATION} result")
    for yardstick, seconds in calibration_s.items():
        if not seconds > 0:
            raise BenchError("benchmark run", seconds, f"a positive {CALIBRATIONS[yardstick]}")
    return calibration_s


def _score(
    name: str, bench: Mapping[str, Any], statistic: str, calibration_s: Mapping[str, float]
) -> Score:
    extra = bench.get("extra_info") or {}
    yardstick = extra.get("yardstick", DEFAULT_YARDSTICK)
    if yardstick not in calibration_s:
        expected = f"a yardstick that ran: one of {', '.join(sorted(calibration_s))}"
        raise BenchError(f"{name}: extra_info.yardstick", yardstick, expected)
    stats = bench["stats"]
    median_s, min_s, p10_s = (statistic_s(stats, key) for key in ("median", "min", "p10"))
    normalised = statistic_s(stats, statistic) / calibration_s[yardstick]
    reference = bool(extra.get("reference", False))
    return Score(name, median_s, min_s, p10_s, normalised, yardstick, reference)


def _machine(data: Mapping[str, Any]) -> dict[str, Any]:
    machine_info = data.get("machine_info", {})
    machine = {key: machine_info.get(key) for key in ("node", "machine", "python_version")}
    machine["cpu"] = machine_info.get("cpu", {}).get("brand_raw")
    machine["cpu_count"] = os.cpu_count()
    return machine


def run_to_dict(run: BenchRun) -> dict[str, Any]:
    """The JSON written by ``--save``: name -> {median_s, min_s, p10_s, normalised, yardstick,
    reference}, the calibration time per yardstick, plus metadata."""
    return {
        "format": FORMAT,
        "statistic": run.statistic,
        "timer": run.timer,
        "created": run.created,
        "commit": run.commit,
        "machine": dict(run.machine),
        "calibration_s": dict(sorted(run.calibration_s.items())),
        "benchmarks": {
            name: {
                "median_s": score.median_s,
                "min_s": score.min_s,
                "p10_s": score.p10_s,
                "normalised": score.normalised,
                "yardstick": score.yardstick,
                "reference": score.reference,
            }
            for name, score in sorted(run.scores.items())
        },
    }


def run_from_dict(data: object, where: str) -> BenchRun:
    """Parse :func:`run_to_dict`'s format; ``where`` names the source in error messages."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        expected = f"{FORMAT!r} (an older baseline: refresh it, see docs/benchmarks.md)"
        raise BenchError(f"{where}: format", found, expected)
    statistic = data.get("statistic")
    if statistic not in STATISTICS:
        raise BenchError(f"{where}: statistic", statistic, f"one of {', '.join(STATISTICS)}")
    calibration_s = _calibration_dict(data.get("calibration_s"), f"{where}: calibration_s")
    benchmarks = data.get("benchmarks")
    if not isinstance(benchmarks, dict):
        raise BenchError(f"{where}: benchmarks", benchmarks, "an object name -> scores")
    scores = {
        name: _score_from_dict(name, entry, f"{where}: benchmarks.{name}", calibration_s)
        for name, entry in benchmarks.items()
    }
    machine = data.get("machine")
    machine = machine if isinstance(machine, dict) else {}
    commit, created = data.get("commit"), str(data.get("created"))
    timer = data.get("timer")
    if timer is not None and timer not in TIMERS:
        raise BenchError(f"{where}: timer", timer, f"one of {', '.join(TIMERS)}")
    return BenchRun(statistic, calibration_s, scores, machine, commit, created, timer)


def _calibration_dict(value: object, where: str) -> dict[str, float]:
    expected = f"an object yardstick -> seconds with {DEFAULT_YARDSTICK!r}"
    if not isinstance(value, dict) or DEFAULT_YARDSTICK not in value:
        raise BenchError(where, value, expected)
    for yardstick in value:
        if yardstick not in CALIBRATIONS:
            raise BenchError(f"{where}.{yardstick}", yardstick, f"one of {', '.join(CALIBRATIONS)}")
    return {
        yardstick: _positive(seconds, f"{where}.{yardstick}")
        for yardstick, seconds in value.items()
    }


def _score_from_dict(
    name: str, entry: object, key: str, calibration_s: Mapping[str, float]
) -> Score:
    if not isinstance(entry, dict):
        raise BenchError(key, entry, "an object with median_s, min_s, p10_s and normalised")
    median_s, min_s, p10_s, normalised = (
        _positive(entry.get(field), f"{key}.{field}") for field in Score.FIELDS
    )
    yardstick = entry.get("yardstick", DEFAULT_YARDSTICK)
    if yardstick not in calibration_s:
        expected = f"one of the run's yardsticks: {', '.join(sorted(calibration_s))}"
        raise BenchError(f"{key}.yardstick", yardstick, expected)
    reference = entry.get("reference", False)
    if not isinstance(reference, bool):
        raise BenchError(f"{key}.reference", reference, "true or false")
    return Score(name, median_s, min_s, p10_s, normalised, yardstick, reference)


def _positive(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BenchError(where, value, "a positive number")
    if not (math.isfinite(value) and value > 0):
        raise BenchError(where, value, "a positive number")
    return float(value)


def compare(current: BenchRun, baseline: BenchRun, fail_above_pct: float) -> list[Change]:
    """Compare normalised scores; a change strictly above ``fail_above_pct`` percent regresses.

    Calibrations are not compared (1.0 by definition); reference benchmarks are compared and
    shown with status ``reference``, never ``regressed``. Rows are sorted by name.
    """
    changes = []
    names = {
        name for name in set(current.scores) | set(baseline.scores) if not is_calibration(name)
    }
    for name in sorted(names):
        now, before = current.scores.get(name), baseline.scores.get(name)
        if before is None:
            changes.append(Change(name, None, now.normalised if now else None, None, "new"))
        elif now is None:
            changes.append(Change(name, before.normalised, None, None, "missing"))
        else:
            pct = (now.normalised / before.normalised - 1.0) * 100.0
            status = _status(pct, fail_above_pct, now.reference or before.reference)
            changes.append(Change(name, before.normalised, now.normalised, pct, status))
    return changes


def _status(change_pct: float, fail_above_pct: float, reference: bool) -> str:
    if reference:
        return "reference"
    if change_pct > fail_above_pct:
        return "regressed"
    return "improved" if change_pct < -fail_above_pct else "ok"


def regressions(changes: Sequence[Change]) -> list[Change]:
    """The rows that fail the gate."""
    return [change for change in changes if change.status == "regressed"]


def combine_runs(runs: Sequence[BenchRun]) -> BenchRun:
    """Merge repeated runs of the same suite: per benchmark, the median of each number.

    Used for baselines (``--repeat``): one unlucky run cannot shift every later comparison.
    """
    names = sorted({name for run in runs for name in run.scores})
    scores = {}
    for name in names:
        seen = [run.scores[name] for run in runs if name in run.scores]
        median_s, min_s, p10_s, normalised = (
            statistics.median(getattr(score, field) for score in seen) for field in Score.FIELDS
        )
        scores[name] = Score(
            name, median_s, min_s, p10_s, normalised, seen[0].yardstick, seen[0].reference
        )
    yardsticks = {yardstick for run in runs for yardstick in run.calibration_s}
    calibration_s = {
        yardstick: statistics.median(
            run.calibration_s[yardstick] for run in runs if yardstick in run.calibration_s
        )
        for yardstick in sorted(yardsticks)
    }
    first = runs[0]
    machine = {**first.machine, "runs": len(runs)}
    return BenchRun(
        first.statistic, calibration_s, scores, machine, first.commit, first.created, first.timer
    )


class Spread(NamedTuple):
    """One benchmark's noise over repeated runs (deviations: largest from the median, in %)."""

    median: float
    lowest: float
    highest: float
    deviation_pct: float
    raw_deviation_pct: float  # of the un-normalised time: what normalising saved (or cost)


def spread(runs: Sequence[BenchRun]) -> dict[str, Spread]:
    """Per benchmark over repeated runs, the spread of normalised scores — the noise that sets
    ``--fail-above`` — and, for comparison, the spread of the raw times."""
    table = {}
    names = {name for run in runs for name in run.scores if not is_calibration(name)}
    for name in sorted(names):
        scores = [(run.scores[name], run.statistic) for run in runs if name in run.scores]
        values = [score.normalised for score, _ in scores]
        raw = [score.raw_s(statistic) for score, statistic in scores]
        table[name] = Spread(
            statistics.median(values), min(values), max(values), _deviation(values), _deviation(raw)
        )
    return table


def _deviation(values: Sequence[float]) -> float:
    middle = statistics.median(values)
    return max(abs(value / middle - 1.0) for value in values) * 100.0


def format_spread(runs: Sequence[BenchRun]) -> str:
    """The noise table printed by ``--repeat N``."""
    table = spread(runs)
    width = max([len(name) for name in table] + [9])
    lines = [
        f"spread of normalised scores over {len(runs)} runs:",
        f"{'benchmark':<{width}}  median     lowest     highest    max deviation  (raw time)",
    ]
    for name, row in table.items():
        numbers = "".join(f"{value:<11.4g}" for value in row[:3])
        lines.append(
            f"{name:<{width}}  {numbers}{row.deviation_pct:>12.1f}%  {row.raw_deviation_pct:>9.1f}%"
        )
    for yardstick in sorted({y for run in runs for y in run.calibration_s}):
        seconds = [run.calibration_s[yardstick] for run in runs if yardstick in run.calibration_s]
        lines.append(f"{yardstick} calibration per run: {', '.join(map(format_duration, seconds))}")
    return "\n".join(lines)


def best_of(first: BenchRun, second: BenchRun, names: Sequence[str]) -> BenchRun:
    """``first`` with the ``names`` that ``second`` measured faster replaced.

    Used to confirm regressions: noise only ever slows code down, so a regression that a second
    measurement does not repeat was noise, while a real one shows up in both. Both runs are first
    re-normalised by the lower of their two calibrations (per yardstick), for the same reason.
    """
    calibration_s = {
        yardstick: min(seconds, second.calibration_s.get(yardstick, seconds))
        for yardstick, seconds in first.calibration_s.items()
    }
    first, second = (renormalise(run, calibration_s) for run in (first, second))
    scores = dict(first.scores)
    for name in names:
        again = second.scores.get(name)
        if again is not None and (name not in scores or again.normalised < scores[name].normalised):
            scores[name] = again
    return dataclasses.replace(first, scores=scores)


def renormalise(run: BenchRun, calibration_s: Mapping[str, float]) -> BenchRun:
    """``run`` with every normalised score divided by ``calibration_s`` of its yardstick."""
    scores = {
        name: dataclasses.replace(
            score, normalised=score.raw_s(run.statistic) / calibration_s[score.yardstick]
        )
        for name, score in run.scores.items()
    }
    return dataclasses.replace(run, calibration_s=dict(calibration_s), scores=scores)


def format_table(run: BenchRun, changes: Sequence[Change] | None) -> str:
    """The human table: benchmark, median, min, p10, yardstick, normalised score, and the change
    vs the baseline. Calibrations come first."""
    by_name = {change.name: change for change in changes or ()}
    header = (
        "benchmark",
        "median",
        "min",
        "p10",
        "yardstick",
        "normalised",
        "baseline",
        "change",
        "status",
    )
    rows: list[tuple[str, ...]] = [header]
    for name in sorted(set(run.scores) | set(by_name), key=lambda n: (not is_calibration(n), n)):
        rows.append(_row(name, run.scores.get(name), by_name.get(name)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def _row(name: str, score: Score | None, change: Change | None) -> tuple[str, ...]:
    status = change.status if change else ""
    if is_calibration(name):
        status = "calibration"
    elif not change and score and score.reference:
        status = "reference"
    return (
        name,
        format_duration(score.median_s) if score else "-",
        format_duration(score.min_s) if score else "-",
        format_duration(score.p10_s) if score else "-",
        score.yardstick if score else "-",
        f"{score.normalised:.4g}" if score else "-",
        f"{change.baseline:.4g}" if change and change.baseline else "-",
        f"{change.change_pct:+.1f}%" if change and change.change_pct is not None else "-",
        status,
    )


def format_duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3f} {unit}"
    return f"{seconds / 1e-9:.1f} ns"


def verdict(changes: Sequence[Change], fail_above_pct: float) -> str:
    """One line summing up the gate."""
    counts = dict.fromkeys(("regressed", "new", "missing", "reference"), 0)
    for change in changes:
        if change.status in counts:
            counts[change.status] += 1
    outcome = "FAIL" if counts["regressed"] else "PASS"
    return (
        f"gate {outcome}: {counts['regressed']} regressed beyond +{fail_above_pct:g}%, "
        f"{counts['new']} new, {counts['missing']} missing from this run, "
        f"{counts['reference']} reference (not gated)"
    )
