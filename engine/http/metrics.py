"""Prometheus metrics in text exposition format (version 0.0.4), with no dependency.

What is counted: claims by outcome, HTTP requests by route and status, request latency per route
(a histogram) and the time spent in the engine and its store per operation (a histogram). The
event loop thread owns every counter, so no lock is needed; with ``--workers W`` each worker
process keeps its own counters (a scrape sees one worker; sum them in Prometheus by instance).

The standard process metrics (``process_cpu_seconds_total``, ``process_resident_memory_bytes``,
``process_start_time_seconds``, as ``prometheus_client`` names them) are those of the process
that answers the scrape, read when it is scraped: nothing is measured on the request path.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path

LATENCY_BOUNDS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
STORE_BOUNDS_S = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0)


class Histogram:
    """Counts of observations at or below each bound (Prometheus ``le``), plus sum and count."""

    __slots__ = ("bounds", "buckets", "count", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> Iterator[str]:
        cumulative = 0
        for bound, count in zip((*self.bounds, "+Inf"), self.buckets, strict=True):
            cumulative += count
            yield f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}'
        yield f"{name}_sum{{{labels}}} {self.sum!r}"
        yield f"{name}_count{{{labels}}} {self.count}"


class Metrics:
    """The service's counters; :meth:`render` gives the ``/metrics`` body."""

    def __init__(self) -> None:
        self.claims: dict[str, int] = {}
        self.requests: dict[tuple[str, int], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.store: dict[str, Histogram] = {}

    def claim(self, outcome: str, elapsed_s: float) -> None:
        """A claim answered with ``outcome`` after ``elapsed_s`` in the engine and its store."""
        self.claims[outcome] = self.claims.get(outcome, 0) + 1
        histogram = self.store.get("claim")
        if histogram is None:
            histogram = self.store["claim"] = Histogram(STORE_BOUNDS_S)
        histogram.observe(elapsed_s)

    def request(self, route: str, status: int, elapsed_s: float) -> None:
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = Histogram(LATENCY_BOUNDS_S)
        histogram.observe(elapsed_s)

    def store_call(self, operation: str, elapsed_s: float) -> None:
        histogram = self.store.get(operation)
        if histogram is None:
            histogram = self.store[operation] = Histogram(STORE_BOUNDS_S)
        histogram.observe(elapsed_s)

    def render(self) -> str:
        return "\n".join(self._lines()) + "\n"

    def _lines(self) -> Iterator[str]:
        yield "# HELP couponlab_claims_total Claims answered, by outcome (replays included)."
        yield "# TYPE couponlab_claims_total counter"
        for outcome, count in sorted(self.claims.items()):
            yield f'couponlab_claims_total{{outcome="{outcome}"}} {count}'
        yield "# HELP couponlab_http_requests_total HTTP requests, by route and status."
        yield "# TYPE couponlab_http_requests_total counter"
        for (route, status), count in sorted(self.requests.items()):
            yield f'couponlab_http_requests_total{{route="{route}",status="{status}"}} {count}'
        yield "# HELP couponlab_http_request_duration_seconds Time from request to response."
        yield "# TYPE couponlab_http_request_duration_seconds histogram"
        for route, histogram in sorted(self.latency.items()):
            yield from histogram.lines(
                "couponlab_http_request_duration_seconds", f'route="{route}"'
            )
        yield "# HELP couponlab_store_seconds Time in the engine and its store, by operation."
        yield "# TYPE couponlab_store_seconds histogram"
        for operation, histogram in sorted(self.store.items()):
            yield from histogram.lines("couponlab_store_seconds", f'operation="{operation}"')
        yield from process_lines()


# -- process metrics (read at scrape time) ----------------------------------------------------

_PROC = Path("/proc")
_start_time_s: dict[int, float | None] = {}  # by pid: constant for a process, read once


def process_lines() -> Iterator[str]:
    """The standard process metrics of this process, with ``prometheus_client``'s names and
    help texts. CPU comes from :func:`os.times` (user + system, this process without its
    children); resident memory and start time from ``/proc`` (left out where there is none)."""
    times = os.times()
    yield "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds."
    yield "# TYPE process_cpu_seconds_total counter"
    yield f"process_cpu_seconds_total {times.user + times.system!r}"
    stat = _self_stat()
    if stat is not None:
        rss_bytes = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24, rss in pages
        yield "# HELP process_resident_memory_bytes Resident memory size in bytes."
        yield "# TYPE process_resident_memory_bytes gauge"
        yield f"process_resident_memory_bytes {rss_bytes}"
    start_s = _start_time(stat)
    if start_s is not None:
        yield (
            "# HELP process_start_time_seconds"
            " Start time of the process since unix epoch in seconds."
        )
        yield "# TYPE process_start_time_seconds gauge"
        yield f"process_start_time_seconds {start_s!r}"


def _self_stat() -> list[str] | None:
    """The fields of ``/proc/self/stat`` after the command name (field 3 onwards), or None."""
    try:
        text = (_PROC / "self" / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses


def _start_time(stat: list[str] | None) -> float | None:
    """When this process started (epoch seconds): boot time plus its start in clock ticks."""
    pid = os.getpid()
    if pid not in _start_time_s:
        _start_time_s[pid] = None if stat is None else _boot_time_s(stat)
    return _start_time_s[pid]


def _boot_time_s(stat: list[str]) -> float | None:
    try:
        lines = (_PROC / "stat").read_text().splitlines()
    except OSError:
        return None
    boot = [line.split()[1] for line in lines if line.startswith("btime ")]
    if not boot:
        return None
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    return int(boot[0]) + int(stat[19]) / ticks_per_s  # field 22, starttime in ticks
