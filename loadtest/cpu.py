"""Whose CPU limited the load: the Locust processes, the server, or the machine.

A load test measures the server only while the generator keeps up, so both sides are sampled
once a second, with one sampling core — :class:`ProcessCpu` (a process's CPU share between two
readings, from ``/proc`` through psutil) and :class:`CpuLog` (the CSV the samples go to, one
row format) — each by a driver that runs where it must:

- every Locust process samples itself in a greenlet of its event loop
  (:func:`loadtest.harness.sample_cpu`: CPU, event-loop lag, running users, into
  ``records/cpu-<run id>-<pid>.csv``, columns :data:`~loadtest.records.CPU_COLUMNS`);
- ``couponlab loadtest`` samples the server it started in a thread (:class:`ServerCpuSampler`:
  the server process, its uvicorn workers and the machine's CPU, into ``server_cpu.csv``,
  columns :data:`SERVER_COLUMNS`).

This module turns both into summaries, warnings and one line saying which side was the
bottleneck:

- :func:`generator_summary` — per Locust process: CPU, seconds saturated, event-loop lag;
- :func:`server_summary` — per server process: CPU, seconds saturated; the machine's CPU;
- :func:`bottleneck` — the conclusion from both.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from loadtest.records import CpuSample, by_pid

SATURATED_PERCENT = 90.0  # of one core: a Python event loop uses one core
LAGGING_MS = 250.0  # a 1 s sleep woke this late: the process was starved or saturated
MACHINE_BUSY_PERCENT = 90.0  # of all cores (a second at 90%+ leaves nothing to spare)
SERVER_CPU_FILE = "server_cpu.csv"
SERVER_COLUMNS = ("t_s", "pid", "role", "cpu_percent", "machine_percent")
# what a saturated process of each side means for the figures
_SATURATED_MEANS = {
    "Locust": "the load generator, not the server, may have limited the load",
    "server": "the server was saturated (add workers, or a faster store path)",
}


@dataclass(frozen=True)
class ServerSample:
    """One second of one server process (``role``: ``main``, ``worker`` or ``helper``);
    100 = a core."""

    pid: int
    role: str
    t_s: float
    cpu_percent: float
    machine_percent: float  # every core of the machine: 100 = all busy


class ProcessCpu:
    """The CPU share of one process between two readings (100 = one core). Creating it takes
    the first reading, which only starts the interval; both raise :class:`psutil.Error` once
    the process is gone."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        process.cpu_percent(None)

    def read(self) -> float:
        """Percent of one core used since the previous reading."""
        return float(self.process.cpu_percent(None))


class CpuLog:
    """A CSV of CPU samples: a header of ``columns`` (attributes of the samples written),
    then one row per sample — ``t_s`` (epoch) to the millisecond, other floats to 0.1, the
    rest as they are —, flushed after each :meth:`write` (a run killed mid-way keeps its
    samples, and a reader may look mid-run)."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self._handle = path.open("w", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(self.columns)

    def __enter__(self) -> CpuLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._handle.close()

    def write(self, *samples: object) -> None:
        """One row per sample (one second of one or more processes), then flush."""
        self._writer.writerows([_cell(getattr(s, c), c) for c in self.columns] for s in samples)
        self._handle.flush()


def _cell(value: object, column: str) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if column == "t_s" else f"{value:.1f}"
    return str(value)


class ServerCpuSampler:
    """Samples the server process ``pid`` and its children (uvicorn workers) once a second into
    ``path`` while the ``with`` block runs (a thread: the harness's main thread waits for
    Locust meanwhile; stopped and joined on exit)."""

    def __init__(self, pid: int, path: Path, interval_s: float = 1.0) -> None:
        self.pid, self.path, self.interval_s = pid, path, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="server-cpu", daemon=True)

    def __enter__(self) -> ServerCpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            root = ProcessCpu(psutil.Process(self.pid))
        except psutil.Error:
            return
        seen = {self.pid: root}
        psutil.cpu_percent(None)  # the machine's first reading, likewise
        with CpuLog(self.path, SERVER_COLUMNS) as log:
            while not self._stop.wait(self.interval_s):
                samples = _sample_server(root, seen)
                if samples is None:
                    return
                log.write(*samples)


def _sample_server(root: ProcessCpu, seen: dict[int, ProcessCpu]) -> list[ServerSample] | None:
    """One sample per server process (a new worker is reported from its second reading on:
    the first only starts its interval); None once the server is gone."""
    try:
        members = [root.process, *root.process.children(recursive=True)]
    except psutil.Error:
        return None
    now_s, machine = time.time(), psutil.cpu_percent(None)
    samples = []
    for process in members:
        try:
            if process.pid not in seen:
                seen[process.pid] = ProcessCpu(process)
                continue
            percent = seen[process.pid].read()
        except psutil.Error:
            continue
        role = _role(process, root.process)
        samples.append(ServerSample(process.pid, role, now_s, percent, machine))
    return samples


def _role(process: psutil.Process, root: psutil.Process) -> str:
    """``main`` (the process the harness started), ``helper`` (multiprocessing's resource
    tracker) or ``worker`` (a uvicorn worker)."""
    if process.pid == root.pid:
        return "main"
    try:
        helper = any("tracker" in part for part in process.cmdline())
    except psutil.Error:
        helper = False
    return "helper" if helper else "worker"


def read_server_cpu(path: Path) -> list[ServerSample]:
    """The samples :class:`ServerCpuSampler` wrote (none when the file does not exist: the
    server was not started by the harness)."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [
            ServerSample(int(row["pid"]), row["role"], float(row["t_s"]),
                         float(row["cpu_percent"]), float(row["machine_percent"]))
            for row in csv.DictReader(handle)
        ]  # fmt: skip


def generator_summary(samples: Sequence[CpuSample]) -> dict[str, Any]:
    """CPU and event-loop lag per Locust process; a warning when one was saturated (≥ 90% of a
    core) or lagging (a 1 s sleep woke ≥ 250 ms late: its latencies include its own delay)."""
    processes: dict[str, Any] = {}
    warnings = []
    for pid, rows in by_pid(samples).items():
        cpu, said = _process_cpu("Locust", pid, rows)
        lag_ms = max(s.loop_lag_ms for s in rows)
        processes[str(pid)] = {**cpu, "max_loop_lag_ms": lag_ms}
        warnings += said
        if lag_ms >= LAGGING_MS:
            warnings.append(
                f"Locust process {pid} ({cpu['role']}) lagged up to {lag_ms:.0f} ms (CPU starved "
                "or saturated): measured latencies include that delay"
            )
    return {"processes": processes, "warnings": warnings}


def server_summary(samples: Sequence[ServerSample]) -> dict[str, Any]:
    """CPU per server process (a warning when one was at ≥ 90% of a core: its event loop was
    the limit) and the machine's CPU (a warning when every core was busy: server, store and
    generator competed for them). ``sampled`` is False when nothing was sampled."""
    processes: dict[str, Any] = {}
    warnings = []
    for pid, rows in by_pid(samples).items():
        processes[str(pid)], said = _process_cpu("server", pid, rows)
        warnings += said
    machine = {round(s.t_s): s.machine_percent for s in samples}
    busy_s = sum(1 for v in machine.values() if v >= MACHINE_BUSY_PERCENT)
    if busy_s:
        warnings.append(f"every CPU of the machine was >= {MACHINE_BUSY_PERCENT:.0f}% busy for "
                        f"{busy_s} s: server, store and Locust competed for the cores")  # fmt: skip
    return {
        "sampled": bool(samples),
        "processes": processes,
        "machine_max_percent": max(machine.values(), default=None),
        "machine_seconds_busy": busy_s,
        "warnings": warnings,
    }


def _process_cpu(
    side: str, pid: int, rows: Sequence[CpuSample | ServerSample]
) -> tuple[dict[str, Any], list[str]]:
    """One process of ``side`` (``Locust`` or ``server``), from its samples in time order: its
    role, max and mean CPU and the seconds it was saturated (≥ 90% of a core), and the warning
    when it was."""
    role, cpu = rows[0].role, [s.cpu_percent for s in rows]
    busy = sum(1 for v in cpu if v >= SATURATED_PERCENT)
    mean = round(sum(cpu) / len(cpu), 1)
    summary = {"role": role, "max_percent": max(cpu), "mean_percent": mean,
               "seconds_saturated": busy}  # fmt: skip
    warning = (f"{side} process {pid} ({role}) was at >= {SATURATED_PERCENT:.0f}% CPU for "
               f"{busy} s: {_SATURATED_MEANS[side]}")  # fmt: skip
    return summary, [warning] if busy else []


def bottleneck(generator: dict[str, Any], server: dict[str, Any]) -> str:
    """One line: which side's CPU limited the load, from the two summaries."""
    gen = any(p["seconds_saturated"] or p["max_loop_lag_ms"] >= LAGGING_MS
              for p in generator["processes"].values())  # fmt: skip
    if not server["sampled"]:
        side = "the load generator" if gen else "not the load generator"
        return f"{side} (server CPU not sampled: the server was not started by the harness)"
    srv = any(p["seconds_saturated"] for p in server["processes"].values())
    text = {
        (True, True): "both the server and the load generator were at their CPU limit",
        (True, False): "the load generator limited the load (the server had CPU to spare)",
        (False, True): "the server limited the load (a server process was CPU-saturated)",
        (False, False): "neither the server nor the load generator was CPU-bound "
        "(a limit, if any, lies in the store, I/O or locks)",
    }[(gen, srv)]
    if server["machine_seconds_busy"]:
        text += "; every core of the machine was busy at times"
    return text
