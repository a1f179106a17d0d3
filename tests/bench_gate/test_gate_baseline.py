"""The committed baseline is one the gate can use: CI compares every run with it, so a baseline
in an old format, or one that misses a gated benchmark, must fail here, in the ordinary tests,
not first in CI's gate step."""

from __future__ import annotations

import subprocess
import sys

from couponlab.bench import BENCH_DIR, DEFAULT_STATISTIC, PROJECT_ROOT, load_run
from couponlab.bench_scores import is_calibration

BASELINE = PROJECT_ROOT / "results" / "benchmarks" / "baseline.json"


def collected_benchmarks() -> set[str]:
    """The names pytest collects under tests/benchmarks (parametrised names included)."""
    command = [sys.executable, "-m", "pytest", str(BENCH_DIR), "--collect-only", "-q"]
    command += ["-p", "no:cacheprovider"]
    output = subprocess.run(
        command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {line.split("::")[-1] for line in output.splitlines() if "::test_bench" in line}


def test_the_committed_baseline_loads_in_the_current_format() -> None:
    baseline = load_run(BASELINE, "--compare")
    assert baseline.statistic == DEFAULT_STATISTIC
    assert baseline.timer == "cpu"
    assert set(baseline.calibration_s) == {"cpu", "heap"}


def test_the_committed_baseline_covers_exactly_the_collected_benchmarks() -> None:
    """Every benchmark is gated (a new one shows as 'new' and is never failed on, so a
    forgotten refresh would silently leave it ungated) and nothing stale lingers."""
    baseline = load_run(BASELINE, "--compare")
    collected = {name for name in collected_benchmarks() if not is_calibration(name)}
    stored = {name for name in baseline.scores if not is_calibration(name)}
    assert collected, "no benchmark collected"
    assert stored == collected
