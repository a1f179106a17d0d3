"""Simulation benchmarks: simulated events per second through the harness, side by side with
bare SimPy events in the same run (issue 4: the harness may cost at most 2× bare SimPy per
event).

* ``test_bench_sim_bare_simpy`` — one process yielding trivial timeouts: SimPy's floor per event.
  A reference (``extra_info["reference"]``): it times SimPy, not Couponlab, so the gate reports
  it and never fails on it.
* ``test_bench_sim_harness`` — a real replication through the production entry point
  (:func:`sim.replication.run_replication`: validate the resolved scenario, sample, run the
  agents, the engine (memory store, risk engine), the ledger, the hourly clock, measure) on a
  Friday flash sale of 45,000 customers (about 3,400 claim attempts, 14,000 SimPy events).
  Normalised by the ``heap`` yardstick (``test_bench_calibration_heap``: the harness's event
  pattern in bare SimPy, thousands of live processes), whose speed tracks a large live heap far
  better than the cache-resident ``cpu`` one.

The harness test stores in ``extra_info``, per SimPy event of the replication (``events``):

* ``us_per_event`` (the benchmark's median round), ``bare_simpy_us_per_event`` (the bare loop
  for as many events, median of 5 runs, measured right after) and ``ratio_to_bare_simpy``: the
  whole replication against bare SimPy.
* ``engine_us_per_event``, ``harness_overhead_us_per_event`` and
  ``overhead_ratio_to_bare_simpy``: the same replication split into the time inside engine calls
  and the rest (sampling, SimPy, agents, recording, measuring). Measured in separate, unbenchmarked
  replications (median of 3) with timing wrappers around every engine entry point the harness
  calls (``Engine.create_stock/claim/redeem/expire/status``, ``engine.risk.RiskEngine`` and
  ``engine.risk.evaluate``), removed afterwards; the wrappers' own cost, measured on a no-op, is
  taken out of the overhead.
* ``simpy_pattern_us_per_event`` and ``simpy_pattern_ratio_to_bare_simpy``: the replication's
  exact event pattern (the same processes, created in the same order, waiting the same delays)
  replayed in bare SimPy, no engine and no agent code: the part of the overhead that is SimPy
  itself with one process per claim attempt.

Run: ``python -m pytest tests/benchmarks/test_bench_sim.py --benchmark-only``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import simpy
import simpy.events

import engine.risk
from engine.engine import Engine
from sim.agents import Harness
from sim.replication import replicate, run_replication
from sim.scenario import load_scenario, scenario_from_dict

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "friday_flash_sale.toml"
BARE_EVENTS = 20_000
SEED = 1
# Every engine entry point the harness calls, as (owner, attribute name).
ENGINE_ENTRY_POINTS: tuple[tuple[Any, str], ...] = (
    *((Engine, name) for name in ("create_stock", "claim", "redeem", "expire", "status")),
    (engine.risk, "RiskEngine"),
    (engine.risk, "evaluate"),
)


def _bare(events: int) -> int:
    env = simpy.Environment()

    def ticker(env: simpy.Environment):  # type: ignore[no-untyped-def]
        for _ in range(events):
            yield env.timeout(1)

    env.process(ticker(env))
    env.run()
    return events


def _median_s(target: Callable[[], Any], runs: int = 5) -> float:
    """The median wall time of ``runs`` calls of ``target``."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        target()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _raw() -> dict[str, Any]:
    """The resolved benchmark scenario (5% of the Friday flash sale's customers)."""
    return load_scenario(SCENARIO).scaled(0.05).raw


def _per_event_us(benchmark: Any, events: int) -> float:
    return float(benchmark.stats.stats.median) / events * 1e6


class EngineClock:
    """Accumulates the wall time spent inside the engine entry points while installed."""

    def __init__(self) -> None:
        self.spent_s = 0.0
        self.calls = 0

    def timed(self, target: Callable[..., Any]) -> Callable[..., Any]:
        """``target`` wrapped so that each call adds its duration to ``spent_s``."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                self.spent_s += time.perf_counter() - began
                self.calls += 1

        return wrapper

    @contextmanager
    def installed(self) -> Iterator[EngineClock]:
        """Wrap every entry point of ``ENGINE_ENTRY_POINTS``; always unwrap them on exit."""
        originals = [(owner, name, getattr(owner, name)) for owner, name in ENGINE_ENTRY_POINTS]
        try:
            for owner, name, original in originals:
                setattr(owner, name, self.timed(original))
            yield self
        finally:
            for owner, name, original in originals:
                setattr(owner, name, original)


def _noop() -> None:
    """Stands in for an engine call when measuring the timing wrapper itself."""


def _call(target: Callable[[], Any], calls: int) -> None:
    for _ in range(calls):
        target()


def _wrapper_cost_s(calls: int = 20_000) -> float:
    """What one call through :meth:`EngineClock.timed` costs beyond the call itself (measured
    on a no-op, median of 5)."""
    wrapped = EngineClock().timed(_noop)
    plain_s = _median_s(lambda: _call(_noop, calls))
    wrapped_s = _median_s(lambda: _call(wrapped, calls))
    return max(0.0, wrapped_s - plain_s) / calls


def _engine_split(raw: dict[str, Any]) -> tuple[float, float, int]:
    """``(engine_s, outside_s, engine calls)`` of one replication, as :func:`run_replication`
    runs it, with the engine entry points timed."""
    clock = EngineClock()
    with clock.installed():
        began = time.perf_counter()
        replicate(scenario_from_dict(raw), SEED)
        total_s = time.perf_counter() - began
    outside_s = total_s - clock.spent_s - clock.calls * _wrapper_cost_s()
    return clock.spent_s, outside_s, clock.calls


def _event_pattern(raw: dict[str, Any]) -> tuple[list[list[float]], float, int]:
    """Every process's timeout delays in creation order, the run's end and its SimPy events,
    recorded in one replication (``Timeout.__init__`` wrapped meanwhile, then restored)."""
    delays: dict[Any, list[float]] = {}
    original = simpy.events.Timeout.__init__

    def recording(self: Any, env: simpy.Environment, delay: float, value: Any = None) -> None:
        delays.setdefault(env.active_process, []).append(delay)
        original(self, env, delay, value)

    facts: list[Any] = []

    def inspect(harness: Harness) -> None:
        facts.extend((harness.horizon_s + 1.0, next(harness.env._eid)))

    simpy.events.Timeout.__init__ = recording  # type: ignore[method-assign]
    try:
        replicate(scenario_from_dict(raw), SEED, inspect)
    finally:
        simpy.events.Timeout.__init__ = original  # type: ignore[method-assign]
    # The processes initialise in creation order at time 0, each creating its first timeout.
    return list(delays.values()), facts[0], facts[1]


def _replay(pattern: list[list[float]], until_s: float) -> int:
    """Run ``pattern`` in bare SimPy: one process per entry, waiting its delays in turn."""
    env = simpy.Environment()

    def waiter(env: simpy.Environment, delays: list[float]):  # type: ignore[no-untyped-def]
        for delay in delays:
            yield env.timeout(delay)

    for delays in pattern:
        env.process(waiter(env, delays))
    env.run(until=until_s)
    return next(env._eid)


def test_bench_sim_bare_simpy(benchmark: Any) -> None:
    benchmark.extra_info["reference"] = True
    events = benchmark(_bare, BARE_EVENTS)
    benchmark.extra_info.update(events=events, us_per_event=_per_event_us(benchmark, events))


def test_bench_sim_harness(benchmark: Any) -> None:
    benchmark.extra_info["yardstick"] = "heap"
    raw = _raw()
    result = benchmark.pedantic(run_replication, args=(raw, SEED), rounds=5, iterations=1)
    assert result["metrics"]["claims"] > 0
    pattern, until_s, events = _event_pattern(raw)
    assert _replay(pattern, until_s) == events  # the replay is the replication's event pattern
    harness_us = _per_event_us(benchmark, events)
    bare_us = _median_s(lambda: _bare(events)) / events * 1e6
    pattern_us = _median_s(lambda: _replay(pattern, until_s)) / events * 1e6
    splits = [_engine_split(raw) for _ in range(3)]
    engine_us = statistics.median(s[0] for s in splits) / events * 1e6
    overhead_us = statistics.median(s[1] for s in splits) / events * 1e6
    benchmark.extra_info.update(
        events=events,
        engine_calls=splits[0][2],
        us_per_event=harness_us,
        events_per_s=1e6 / harness_us,
        bare_simpy_us_per_event=bare_us,
        ratio_to_bare_simpy=harness_us / bare_us,
        engine_us_per_event=engine_us,
        harness_overhead_us_per_event=overhead_us,
        overhead_ratio_to_bare_simpy=overhead_us / bare_us,
        simpy_pattern_us_per_event=pattern_us,
        simpy_pattern_ratio_to_bare_simpy=pattern_us / bare_us,
    )
