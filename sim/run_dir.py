"""Reading a finished forecast's run directory: ``summary.json``, ``timeseries.csv``,
``replications.csv``, ``scenario.toml`` (and ``run.json``, ``other_scenario.toml`` when present),
in the formats of ``docs/contracts.md``, "Run directory".

:func:`load_run` parses and checks them into a :class:`RunData`, the only input of the report
(:mod:`sim.report`). Bad input raises :class:`RunDirError`, whose message names the file, the
place in it and what was expected.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SUMMARY = "summary.json"
TIMESERIES = "timeseries.csv"
REPLICATIONS = "replications.csv"
SCENARIO = "scenario.toml"
OTHER_SCENARIO = "other_scenario.toml"
RUN_FACTS = "run.json"
REPORT = "report.html"
TIMESERIES_COLUMNS = (
    "replication",
    "stock_id",
    "hour",
    "claims",
    "redemptions",
    "budget_reserved_fen",
    "budget_spent_fen",
    "quota_left",
)
TIMESERIES_COUNTS = ("claims", "redemptions")
TIMESERIES_LEVELS = ("budget_reserved_fen", "budget_spent_fen", "quota_left")
STATS_KEYS = ("mean", "p5", "p50", "p95", "ci95", "n")
MISSING_CELLS = frozenset({"", "nan", "NaN", "null", "None", "NA"})


class RunDirError(ValueError):
    """A run directory file is missing or malformed; the message names file, place, expectation."""

    def __init__(self, file: Path | str, where: str, expected: str) -> None:
        self.file = str(file)
        self.where = where
        self.expected = expected
        place = f" ({where})" if where else ""
        super().__init__(f"{self.file}{place}: expected {expected}")


@dataclass(frozen=True)
class Timeseries:
    """Hourly series as dense arrays indexed ``[stock, replication, hour]``.

    Counts missing from the CSV are 0; levels missing for an hour carry the previous hour's level
    forward (0 before the first row), so sparse writers and dense writers render alike.
    """

    stock_ids: tuple[str, ...]
    replications: tuple[int, ...]
    hours: int
    columns: dict[str, np.ndarray]


@dataclass(frozen=True)
class RunData:
    """Everything a report is made from: the parsed files of one run directory."""

    run_dir: Path
    summary: dict[str, Any]
    timeseries: Timeseries
    replications: dict[str, np.ndarray]
    scenario_text: str
    scenario: dict[str, Any]
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)  # run.json, if any
    other_scenario: dict[str, Any] | None = None  # other_scenario.toml of a comparison


def load_run(run_dir: Path) -> RunData:
    """Read and validate the four input files of a run directory."""
    if not run_dir.is_dir():
        raise RunDirError(run_dir, "", "a run directory (it does not exist or is not a directory)")
    summary = _load_summary(run_dir / SUMMARY)
    timeseries = _load_timeseries(run_dir / TIMESERIES)
    replications = _load_replications(run_dir / REPLICATIONS)
    scenario_text, scenario = _load_scenario(run_dir / SCENARIO)
    other = None
    if (run_dir / OTHER_SCENARIO).is_file():
        other = _load_scenario(run_dir / OTHER_SCENARIO)[1]
    return RunData(
        run_dir, summary, timeseries, replications, scenario_text, scenario,
        _load_facts(run_dir / RUN_FACTS), other,
    )  # fmt: skip


def _load_facts(path: Path) -> dict[str, Any]:
    """``run.json`` (the run's environment), or ``{}`` for a run directory without one."""
    if not path.is_file():
        return {}
    try:
        facts = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise RunDirError(path, f"line {error.lineno}", f"valid JSON ({error.msg})") from None
    if not isinstance(facts, dict):
        raise RunDirError(path, "top level", "a JSON object")
    return facts


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise RunDirError(path, "", "this file to exist (is the run complete?)")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RunDirError(path, "", f"a readable UTF-8 text file ({error})") from None


def _load_scenario(path: Path) -> tuple[str, dict[str, Any]]:
    text = _read_text(path)
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RunDirError(path, str(error), "valid TOML (the resolved scenario)") from None


# --- summary.json -----------------------------------------------------------------------------


def _load_summary(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise RunDirError(path, f"line {error.lineno}", f"valid JSON ({error.msg})") from None
    if not isinstance(summary, dict):
        raise RunDirError(path, "top level", "a JSON object")
    _check_summary(path, summary)
    return summary


def _check_summary(path: Path, summary: dict[str, Any]) -> None:
    _require(path, summary, "scenario", str, "the scenario name (a string)")
    _require(path, summary, "seed", int, "the seed (an integer)")
    _require(path, summary, "replications", int, "the number of replications (an integer)")
    _check_stats_map(path, "metrics", _require(path, summary, "metrics", dict, "an object"))
    for stock_id, stock in _optional_map(path, summary, "stocks").items():
        where = f"stocks.{stock_id}"
        if not isinstance(stock, dict):
            raise RunDirError(path, where, "an object with quota, budget_fen, funding, metrics")
        _check_stats_map(path, f"{where}.metrics", stock.get("metrics", {}))
    for segment, stages in _optional_map(path, summary, "segments").items():
        _check_stats_map(path, f"segments.{segment}", stages)
    risk = summary.get("risk")
    if risk is not None and not (isinstance(risk, dict) and isinstance(risk.get("rules"), dict)):
        raise RunDirError(path, "risk", 'null or an object with "rules": {rule_id: {...}}')
    compare = summary.get("compare")
    if compare is not None:
        _check_compare(path, compare)


def _require(path: Path, obj: dict[str, Any], key: str, kind: type, expected: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RunDirError(path, key, f"{expected}, got {value!r}")
    return value


def _optional_map(path: Path, obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RunDirError(path, key, f"an object, got {value!r}")
    return value


def _check_compare(path: Path, compare: Any) -> None:
    if not isinstance(compare, dict) or not isinstance(compare.get("metrics"), dict):
        raise RunDirError(path, "compare", 'null or an object with "other" and "metrics"')
    for name, entry in compare["metrics"].items():
        where = f"compare.metrics.{name}"
        if not isinstance(entry, dict) or "difference" not in entry:
            raise RunDirError(path, where, 'an object {"difference": STATS}')
        check_stats(path, f"{where}.difference", entry["difference"])


def _check_stats_map(path: Path, where: str, stats_map: Any) -> None:
    if not isinstance(stats_map, dict):
        raise RunDirError(path, where, "an object {name: STATS}")
    for name, stats in stats_map.items():
        check_stats(path, f"{where}.{name}", stats)


def check_stats(path: Path, where: str, stats: Any) -> None:
    """Check one STATS object: mean, p5, p50, p95 numbers or null; ci95 [lo, hi]; n integer."""
    expected = "STATS {mean, p5, p50, p95, ci95: [lo, hi], n} with numbers or null"
    if not isinstance(stats, dict) or any(key not in stats for key in STATS_KEYS):
        raise RunDirError(path, where, f"{expected}, got {_short(stats)}")
    for key in ("mean", "p5", "p50", "p95"):
        if not _is_number_or_null(stats[key]):
            raise RunDirError(path, f"{where}.{key}", f"a number or null, got {stats[key]!r}")
    ci95 = stats["ci95"]
    if ci95 is not None and not (
        isinstance(ci95, list) and len(ci95) == 2 and all(_is_number_or_null(v) for v in ci95)
    ):
        raise RunDirError(path, f"{where}.ci95", f"[lo, hi] numbers or null, got {ci95!r}")
    if not (stats["n"] is None or isinstance(stats["n"], int)):
        raise RunDirError(path, f"{where}.n", f"an integer, got {stats['n']!r}")


def _is_number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- CSV files --------------------------------------------------------------------------------


def _read_csv(path: Path, required: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(_read_text(path).splitlines()))
    if not rows:
        raise RunDirError(path, "line 1", f"a header row with columns {', '.join(required)}")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in required if name not in header]
    if missing:
        raise RunDirError(path, "header", f"columns {', '.join(missing)} (got {', '.join(header)})")
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RunDirError(path, f"line {line_no}", f"{len(header)} cells, got {len(row)}")
    return header, rows[1:]


def _cell_number(path: Path, line_no: int, column: str, text: str) -> float:
    if text.strip() in MISSING_CELLS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        where = f"line {line_no}, column {column}"
        raise RunDirError(path, where, f"a number, got {text!r}") from None


def _load_replications(path: Path) -> dict[str, np.ndarray]:
    header, rows = _read_csv(path, ("replication", "seed"))
    if not rows:
        raise RunDirError(path, "line 2", "one row per replication (the file has none)")
    columns = {name: np.empty(len(rows)) for name in header}
    for index, row in enumerate(rows):
        for name, cell in zip(header, row, strict=True):
            columns[name][index] = _cell_number(path, index + 2, name, cell)
    return columns


def _load_timeseries(path: Path) -> Timeseries:
    header, rows = _read_csv(path, TIMESERIES_COLUMNS)
    position = {name: header.index(name) for name in TIMESERIES_COLUMNS}
    parsed = [_timeseries_row(path, line_no, row, position) for line_no, row in enumerate(rows, 2)]
    stock_ids = tuple(dict.fromkeys(sorted(row[1] for row in parsed)))
    replications = tuple(sorted({row[0] for row in parsed}))
    hours = max((row[2] for row in parsed), default=-1) + 1
    shape = (len(stock_ids), len(replications), hours)
    columns = {name: np.full(shape, np.nan) for name in TIMESERIES_COLUMNS[3:]}
    stock_at = {stock_id: i for i, stock_id in enumerate(stock_ids)}
    rep_at = {rep: i for i, rep in enumerate(replications)}
    for rep, stock_id, hour, values in parsed:
        for name, value in zip(TIMESERIES_COLUMNS[3:], values, strict=True):
            columns[name][stock_at[stock_id], rep_at[rep], hour] = value
    for name in TIMESERIES_COUNTS:
        columns[name] = np.nan_to_num(columns[name], nan=0.0)
    for name in TIMESERIES_LEVELS:
        columns[name] = _forward_fill(columns[name])
    return Timeseries(stock_ids, replications, hours, columns)


def _timeseries_row(
    path: Path, line_no: int, row: list[str], position: dict[str, int]
) -> tuple[int, str, int, list[float]]:
    numbers = {
        name: _cell_number(path, line_no, name, row[position[name]])
        for name in TIMESERIES_COLUMNS
        if name != "stock_id"
    }
    for name in ("replication", "hour"):
        value = numbers[name]
        if not (math.isfinite(value) and value == int(value) and value >= 0):
            raise RunDirError(path, f"line {line_no}, column {name}", "an integer >= 0")
    values = [numbers[name] for name in TIMESERIES_COLUMNS[3:]]
    return int(numbers["replication"]), row[position["stock_id"]], int(numbers["hour"]), values


def _forward_fill(levels: np.ndarray) -> np.ndarray:
    """Carry the last known level forward along the hour axis; 0 before the first one."""
    if levels.size == 0:
        return levels
    known = ~np.isnan(levels)
    index = np.where(known, np.arange(levels.shape[-1]), 0)
    np.maximum.accumulate(index, axis=-1, out=index)
    filled = np.take_along_axis(levels, index, axis=-1)
    first_known = np.maximum.accumulate(known, axis=-1)
    return np.where(first_known, filled, 0.0)
