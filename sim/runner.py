"""The forecast: R replications with independent seeds, in-process, on a local process pool or on
a Dask cluster, then the run directory (docs/contracts.md, "Run directory").

Seeds: replication ``i`` uses ``numpy.random.SeedSequence(seed).spawn(R)[i]`` (as a 63-bit
integer), whatever runs it, so ``--jobs`` and ``--dask`` give the same results as a serial run.
A comparison runs the other scenario with the same replication seeds (common random numbers)
over the same window: both are simulated over the longer of their two horizons.

The run directory: ``scenario.toml`` (and ``other_scenario.toml`` for a comparison), the resolved
scenarios; ``summary.json``, a function of scenario, seed and replications only (byte-identical
whatever ran it); ``run.json``, the facts of this run's environment (``--jobs``, ``--dask``, the
scenario files as given, ``--population-scale``); the CSV files, plots and report. It is written
into a temporary sibling and renamed at the end: a failed or interrupted run leaves nothing
half-written.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from sim.replication import horizon_s, run_replication
from sim.scenario import Scenario, check_forecastable, resolved_toml
from sim.summary import build_summary, compare_section, write_replications, write_timeseries

Progress = Callable[[int, int, float], None]
Task = tuple[dict[str, Any], int, int, float]  # (resolved scenario, seed, index, horizon)


def replication_seeds(seed: int, replications: int) -> list[int]:
    """The seed of each replication, from ``SeedSequence(seed).spawn(replications)``."""
    children = np.random.SeedSequence(seed).spawn(replications)
    return [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]


def _call(task: Task) -> dict[str, Any]:
    return run_replication(*task)


def run_tasks(
    tasks: Sequence[Task],
    jobs: int = 1,
    dask: str | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Run every task; results come back in task order."""
    began = time.perf_counter()
    results: list[dict[str, Any] | None] = [None] * len(tasks)

    def done(position: int, result: dict[str, Any]) -> None:
        results[position] = result
        if progress is not None:
            finished = sum(r is not None for r in results)
            progress(finished, len(tasks), time.perf_counter() - began)

    if dask is not None:
        _run_dask(tasks, dask, done)
    elif jobs > 1 and len(tasks) > 1:
        context = get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = {pool.submit(_call, task): i for i, task in enumerate(tasks)}
            for future in as_completed(futures):
                done(futures[future], future.result())
    else:
        for i, task in enumerate(tasks):
            done(i, _call(task))
    return [r for r in results if r is not None]


def _run_dask(tasks: Sequence[Task], address: str, done: Callable[[int, Any], None]) -> None:
    from distributed import Client
    from distributed import as_completed as dask_completed

    # distributed ships no annotations for Client() and as_completed().
    with Client(address, timeout="10s") as client:  # type: ignore[no-untyped-call]
        futures = client.map(_call, list(tasks), pure=False)
        positions = {future.key: i for i, future in enumerate(futures)}
        for future in dask_completed(futures):  # type: ignore[no-untyped-call]
            done(positions[future.key], future.result())


def forecast(
    scenario: Scenario,
    replications: int,
    seed: int,
    jobs: int = 1,
    dask: str | None = None,
    other: Scenario | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the forecast; returns ``{"summary", "results", "other_results"}``. With ``other``
    both are simulated over the longer of their horizons, so they are measured alike.

    Raises :class:`~engine.errors.InvalidDefinition` before any replication runs when a
    stock's window reaches outside its campaign (:func:`~sim.scenario.check_forecastable`:
    the one place the CLI's scenarios are checked for it)."""
    check_forecastable(scenario)
    if other is not None:
        check_forecastable(other)
    seeds = replication_seeds(seed, replications)
    horizon = horizon_s(scenario) if other is None else max(horizon_s(scenario), horizon_s(other))
    tasks: list[Task] = [(scenario.raw, s, i, horizon) for i, s in enumerate(seeds)]
    if other is not None:
        tasks += [(other.raw, s, i, horizon) for i, s in enumerate(seeds)]
    results = run_tasks(tasks, jobs, dask, progress)
    base, variant = results[:replications], results[replications:]
    compare = compare_section(other, base, variant) if other is not None else None
    summary = build_summary(scenario, base, seed, horizon, compare)
    return {"summary": summary, "results": base, "other_results": variant}


def run_id(seed: int, now: dt.datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-seed<seed>`` (local wall-clock time: only names the directory)."""
    moment = now or dt.datetime.now()
    return f"{moment:%Y%m%d-%H%M%S}-seed{seed}"


def write_run(
    run_dir: Path,
    scenario: Scenario,
    outcome: dict[str, Any],
    render: bool = True,
    other: Scenario | None = None,
    run_info: dict[str, Any] | None = None,
) -> tuple[Path, Path | None, str | None]:
    """Write the run directory atomically. Returns ``(run_dir, report path, report error)``.

    ``other`` is the compared scenario (saved resolved as ``other_scenario.toml``); ``run_info``
    the environment facts for ``run.json`` (:func:`run_facts`)."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    staging.chmod(0o755)
    try:
        (staging / "scenario.toml").write_text(resolved_toml(scenario), encoding="utf-8")
        if other is not None:
            (staging / OTHER_SCENARIO).write_text(resolved_toml(other), encoding="utf-8")
        _write_json(staging / "summary.json", outcome["summary"])
        _write_json(staging / RUN_FACTS, run_info or {})
        write_timeseries(staging / "timeseries.csv", outcome["results"])
        write_replications(staging / "replications.csv", outcome["results"])
        report, error = _render(staging) if render else (None, None)
        if run_dir.exists():
            run_dir.rmdir()  # only an empty directory may be replaced
        staging.rename(run_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    final = None if report is None else run_dir / report.relative_to(staging)
    return run_dir, final, error


OTHER_SCENARIO = "other_scenario.toml"
RUN_FACTS = "run.json"


def _write_json(path: Path, document: dict[str, Any]) -> None:
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def run_facts(
    jobs: int,
    dask: str | None,
    scenario_file: str | None = None,
    other_file: str | None = None,
    population_scale: float = 1.0,
) -> dict[str, Any]:
    """``run.json``: how this run was made (what may differ between machines and runs of the
    same forecast), and the flags to replay it from the scenario files."""
    return {
        "jobs": jobs,
        "dask": dask,
        "scenario_file": scenario_file,
        "other_file": other_file,
        "population_scale": population_scale,
        "python": sys.version.split()[0],
    }


def _render(run_dir: Path) -> tuple[Path | None, str | None]:
    """Render the report with :mod:`sim.report` when it is installed."""
    try:
        from sim import report
    except ImportError:
        return None, None
    try:
        return report.render(run_dir), None
    except Exception as error:  # the run stays valid; the report can be re-rendered later
        return None, f"{type(error).__name__}: {error}"


def print_progress(finished: int, total: int, elapsed_s: float) -> None:
    """Progress on stderr: ``replication 3/20 done, 12.3 s``."""
    print(f"  replication {finished}/{total} done, {elapsed_s:.1f} s", file=sys.stderr, flush=True)
