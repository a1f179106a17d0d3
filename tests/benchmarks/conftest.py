"""Shared set-up of the benchmarks, and the slowdown hook that proves the gate trips.

Slowdown hook (test-only, production code carries none)::

    COUPONLAB_BENCH_INJECT="test_bench_claim=2.0" couponlab bench --compare BASELINE

makes the benchmark named ``test_bench_claim`` take 2.0 times as long as it really does: every
call of its target is timed and followed by busy work for ``(factor - 1) ×`` that call's own
duration. Several entries are separated by commas (``a=1.5,b=3``). A name matches a test's
function name (``test_bench_claim``) or its full parametrised name (``test_bench_claim[memory]``).
The factor must be a number >= 1. The busy work spins on the clock, so it is calibrated to this
machine and to the moment, exactly like a real slowdown of the hot path would be; it runs on
the benchmark's own timer (CPU time under ``couponlab bench``'s default ``--timer cpu``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

INJECT_ENV = "COUPONLAB_BENCH_INJECT"
# The calibration workloads (couponlab.bench_scores.CALIBRATIONS): the yardsticks.
CALIBRATIONS = ("test_bench_calibration", "test_bench_calibration_heap")
CALIBRATION_TIME_FACTOR = 3


def parse_injections(text: str) -> dict[str, float]:
    """Parse ``name=factor[,name=factor...]``; raises ``pytest.UsageError`` naming the bad part."""
    injections: dict[str, float] = {}
    for part in filter(None, (item.strip() for item in text.split(","))):
        name, sep, factor_text = part.partition("=")
        try:
            factor = float(factor_text)
        except ValueError:
            factor = math.nan
        if not sep or not name.strip() or not math.isfinite(factor) or factor < 1.0:
            raise pytest.UsageError(
                f"{INJECT_ENV} = {text!r}: bad entry {part!r}, "
                "expected NAME=FACTOR with FACTOR a number >= 1, e.g. test_bench_claim=2.0"
            )
        injections[name.strip()] = factor
    return injections


INJECTIONS = parse_injections(os.environ.get(INJECT_ENV, ""))


def slowed(
    target: Callable[..., Any], factor: float, clock: Callable[[], float] = time.perf_counter
) -> Callable[..., Any]:
    """Wrap ``target`` so each call lasts ``factor`` times its own duration (busy, not sleeping).

    ``clock`` is the benchmark's own timer (``--benchmark-timer``): the call and the busy work
    are measured on the clock the benchmark reports, so the factor holds on a busy machine too
    (spinning on the wall clock while the benchmark counts CPU time would slow it by less)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        result = target(*args, **kwargs)
        finished = clock()
        deadline = finished + (finished - started) * (factor - 1.0)
        while clock() < deadline:
            pass
        return result

    return wrapper


class SlowedBenchmark(BenchmarkFixture):
    """pytest-benchmark's fixture whose targets are wrapped by :func:`slowed`.

    pytest-benchmark insists that the ``benchmark`` fixture is a ``BenchmarkFixture``, so the
    hook re-classes the real fixture instead of wrapping it.
    """

    slowdown_factor: float = 1.0

    def __call__(self, function_to_benchmark: Any, *args: Any, **kwargs: Any) -> Any:
        target = slowed(function_to_benchmark, self.slowdown_factor, self._timer)
        return super().__call__(target, *args, **kwargs)  # type: ignore[no-untyped-call]

    def pedantic(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        target = slowed(target, self.slowdown_factor, self._timer)
        return super().pedantic(target, *args, **kwargs)  # type: ignore[no-untyped-call]


@pytest.fixture
def benchmark(benchmark: Any, request: pytest.FixtureRequest) -> Any:
    """pytest-benchmark's fixture, slowed down when ``COUPONLAB_BENCH_INJECT`` names this test."""
    node = request.node
    factor = INJECTIONS.get(node.name, INJECTIONS.get(getattr(node, "originalname", node.name)))
    if factor is None:
        return benchmark
    benchmark.__class__ = SlowedBenchmark
    benchmark.slowdown_factor = factor
    benchmark.extra_info["injected_slowdown"] = factor
    return benchmark


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the calibrations first and last (``[first]``, ``[last]``), the benchmarks in between,
    and give each calibration run ``CALIBRATION_TIME_FACTOR`` times the benchmarks' time budget."""
    calibrations = [item for item in items if getattr(item, "originalname", "") in CALIBRATIONS]
    max_time_s = CALIBRATION_TIME_FACTOR * float(config.getoption("benchmark_max_time"))
    for item in calibrations:
        item.add_marker(pytest.mark.benchmark(max_time=max_time_s))
    first = [item for item in calibrations if item.name.endswith("[first]")]
    last = [item for item in calibrations if item not in first]
    others = [item for item in items if item not in calibrations]
    items[:] = first + others + last
