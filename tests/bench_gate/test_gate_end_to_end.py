"""The gate end to end: a deliberately slowed hot path trips it, an unchanged tree passes.

Runs ``couponlab bench`` as a subprocess on the calibration plus one cheap benchmark
(``--filter``), three times: a fresh baseline, then a run slowed through the documented
``COUPONLAB_BENCH_INJECT`` hook (exit 1), then an unchanged run (exit 0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from couponlab.bench import CALIBRATION, EXIT_REGRESSION, HEAP_CALIBRATION

ROOT = Path(__file__).resolve().parents[2]
# A cheap, stable hot-path benchmark (an in-process HTTP claim round trip, ~25 us per call).
CHEAP_BENCHMARK = "test_bench_http_claim"
# Far above the default threshold and the CPU's slow state (<= 1.9x, docs/benchmarks.md), so the
# slowed run fails even if the calibration happened to be measured in the slow state.
SLOWDOWN = 4.0


def bench(*flags: str, inject: str = "") -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "COUPONLAB_BENCH_INJECT"}
    if inject:
        env["COUPONLAB_BENCH_INJECT"] = inject
    command = [sys.executable, "-m", "couponlab.bench", "--filter", CHEAP_BENCHMARK]
    command += ["--rounds", "5", "--max-time", "0.2", *flags]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_an_injected_slowdown_trips_the_gate_and_an_unchanged_tree_passes(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    first = bench("--save", str(baseline))
    assert first.returncode == 0, first.stderr[-2000:]
    saved = json.loads(baseline.read_text(encoding="utf-8"))["benchmarks"]
    assert set(saved) == {CALIBRATION, HEAP_CALIBRATION, CHEAP_BENCHMARK}

    slowed = bench(
        "--compare",
        str(baseline),
        "--save",
        str(tmp_path / "slowed.json"),
        "--confirm",
        "1",
        inject=f"{CHEAP_BENCHMARK}={SLOWDOWN}",
    )
    assert slowed.returncode == EXIT_REGRESSION, slowed.stdout + slowed.stderr[-2000:]
    row = next(line for line in slowed.stdout.splitlines() if line.startswith(CHEAP_BENCHMARK))
    assert row.rstrip().endswith("regressed")
    assert "gate FAIL: 1 regressed" in slowed.stdout
    assert f"confirming 1 regressed: {CHEAP_BENCHMARK}" in slowed.stderr  # measured twice

    unchanged = bench("--compare", str(baseline), "--save", str(tmp_path / "unchanged.json"))
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr[-2000:]
    assert "gate PASS: 0 regressed" in unchanged.stdout
