"""The standard process metrics of ``/metrics``: this process's own values, read at the scrape."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.http.metrics import Metrics, process_lines

NAMES = {
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
}
LINUX = Path("/proc/self/stat").exists()


def _values(text: str) -> dict[str, float]:
    samples = (line.split(" ") for line in text.splitlines() if line.startswith("process_"))
    return {name: float(value) for name, value in samples}


def test_each_metric_has_help_type_and_one_unlabelled_sample() -> None:
    text = Metrics().render()
    expected = NAMES if LINUX else {"process_cpu_seconds_total": "counter"}
    assert set(_values(text)) == set(expected)
    for name, kind in expected.items():
        assert f"# HELP {name} " in text
        assert f"# TYPE {name} {kind}\n" in text


def test_cpu_seconds_count_this_process_user_and_system_time() -> None:
    before = _values("\n".join(process_lines()))["process_cpu_seconds_total"]
    deadline = time.process_time() + 0.15
    while time.process_time() < deadline:
        pass
    after = _values("\n".join(process_lines()))["process_cpu_seconds_total"]
    times = os.times()
    assert after - before >= 0.1
    assert after <= times.user + times.system  # not the children's time


@pytest.mark.skipif(not LINUX, reason="resident memory is read from /proc")
def test_resident_memory_follows_what_the_process_touches() -> None:
    before = _values("\n".join(process_lines()))["process_resident_memory_bytes"]
    block = b"x" * (64 * 2**20)
    after = _values("\n".join(process_lines()))["process_resident_memory_bytes"]
    status = Path("/proc/self/status").read_text()
    vm_rss_kb = int(
        next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
    )
    del block
    assert after - before > 48 * 2**20
    assert abs(vm_rss_kb * 1024 - after) < 16 * 2**20


@pytest.mark.skipif(not LINUX, reason="the start time is read from /proc")
def test_start_time_is_when_the_scraped_process_started() -> None:
    """Each worker reports its own start: a process started now says now (boot time has whole
    seconds, so within about a second), not the start of the process that imported it first."""
    script = "from engine.http.metrics import process_lines; print('\\n'.join(process_lines()))"
    before_s = time.time()
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    after_s = time.time()
    started_s = _values(child.stdout)["process_start_time_seconds"]
    assert before_s - 1.5 <= started_s <= after_s + 0.5
    ours = _values("\n".join(process_lines()))["process_start_time_seconds"]
    assert ours < before_s
