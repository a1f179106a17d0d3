"""The per-second time series of a load test, and how closely the open model kept its rate.

- :class:`RunInfo` — how the run was set up (shared with :mod:`loadtest.report`);
- :func:`timeseries` — one row per second relative to the window's opening (negative: the
  crowd waiting before 10:00): the crowd planned and running, target, offered and achieved
  requests/s, the customers' new claims, 201s, unknowns, latency percentiles, coupons issued;
- :func:`open_model` — the customers' new claims per second against the open model's target.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.checker import ServerView
from loadtest.profile import Profile, target_rate_at, users_at
from loadtest.records import UNKNOWN, Attempt, CpuSample, by_pid

SERIES_COLUMNS = ("t_s", "shape_users", "users", "target_rps", "offered_rps", "achieved_rps",
                  "ok_rps", "unknown_rps", "p50_ms", "p90_ms", "p99_ms", "max_ms",
                  "issued", "arrivals_rps")  # fmt: skip
PACED_CLASSES = ("EarlyCustomer", "LateCustomer", "RetryingCustomer")  # bots are not paced
LATE_ARRIVAL_S = 0.1  # an arrival sent this long after it was due waited for a free user


@dataclass(frozen=True)
class RunInfo:
    """How the run was set up (for the summary's header)."""

    scenario: str
    seed: int
    store: str
    workers: int
    processes: int
    profile: Profile
    stock: dict[str, Any]
    window_open_s: float
    started_s: float
    risk: str = "unknown"  # the server's risk pack (unknown under plain Locust)
    shape: str = "flash"  # flash | constant
    run_id: str = ""  # names this run's records


def open_model(info: RunInfo, attempts: list[Attempt]) -> dict[str, Any] | None:
    """How closely the customers' new claims followed the open model's target rate: over the
    whole seconds of the shape after the opening, the per-second relative error (mean, p95 —
    numpy's linear percentile, as in the rest of the project —, max; a Poisson process has a
    mean error near ``sqrt(2 / (pi × rate))`` by itself), the total ratio, and the share of
    arrivals that waited > 0.1 s for a free user. ``None`` in the closed model."""
    profile = info.profile
    if not profile.open_model:
        return None
    open_s = info.window_open_s
    first = [a for a in attempts if a.attempt == 1 and a.user_class in PACED_CLASSES]
    sent = Counter(math.floor(a.sent_s - open_s) for a in first)
    seconds = range(math.floor(profile.duration_s - profile.window_opens_after_s))
    flash = info.shape == "flash"
    target = {t: _target_in_second(profile, t, flash) for t in seconds}
    errors = [abs(sent[t] - rate) / rate for t, rate in target.items() if rate > 0]
    late = sum(1 for a in first if a.due_s and a.sent_s - a.due_s > LATE_ARRIVAL_S)
    expected = [math.sqrt(2 / (math.pi * rate)) for rate in target.values() if rate > 0]
    total = sum(target.values())
    return {
        "target_claims": round(total),
        "arrivals_sent": sum(sent[t] for t in seconds),
        "offered_ratio": round(sum(sent[t] for t in seconds) / total, 4) if total else None,
        "per_second_error_mean": _mean(errors),
        "per_second_error_p95": round(float(np.percentile(errors, 95)), 4) if errors else None,
        "per_second_error_max": round(max(errors), 4) if errors else None,
        "poisson_error_mean": _mean(expected),
        "late_arrival_share": round(late / len(first), 4) if first else None,
    }


def _target_in_second(profile: Profile, second: int, flash: bool) -> float:
    """The target claims in second ``second`` after the opening (the rate's mean over it)."""
    start_s = profile.window_opens_after_s + second
    rates = (target_rate_at(profile, start_s + (k + 0.5) / 10, flash) for k in range(10))
    return sum(rates) / 10


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def timeseries(
    attempts: list[Attempt], server: ServerView, info: RunInfo, cpu: Sequence[CpuSample] = ()
) -> list[dict[str, float]]:
    """One row per second relative to the opening, from the test's start (the waiting crowd)
    to the last answer: the shape's planned users and the users running, offered (sent) and
    achieved (answered) requests/s, the open model's target, latency percentiles, coupons
    issued so far."""
    open_s = info.window_open_s
    if not attempts:
        return []
    first = math.floor(min(info.started_s, *(a.sent_s for a in attempts)) - open_s + 1e-3)
    last = math.floor(max(a.done_s for a in attempts) - open_s)
    sent = Counter(math.floor(a.sent_s - open_s) for a in attempts)
    arrivals = Counter(
        math.floor(a.sent_s - open_s)
        for a in attempts
        if a.attempt == 1 and a.user_class in PACED_CLASSES
    )
    done: dict[int, list[Attempt]] = {}
    for a in attempts:
        done.setdefault(math.floor(a.done_s - open_s), []).append(a)
    claimed = np.sort([float(c["claimed_s"]) - open_s for c in server.claims])
    seconds = range(first, last + 1)
    running = _users_per_second(cpu, open_s, seconds)
    return [
        {
            **_series_row(second, info, sent, done.get(second, []), claimed, running),
            "arrivals_rps": arrivals.get(second, 0),
        }
        for second in seconds
    ]


def _series_row(
    second: int,
    info: RunInfo,
    sent: Counter[int],
    done: list[Attempt],
    claimed: Any,
    running: dict[int, int],
) -> dict[str, float]:
    elapsed_s = info.window_open_s - info.started_s + second  # on the shape's clock
    shape = users_at(info.profile, elapsed_s) if elapsed_s >= 0 else None
    answered = [a for a in done if a.outcome != "in_flight"]
    lat = np.array([a.latency_s * 1000 for a in answered]) if answered else None
    pct = np.percentile(lat, [50, 90, 99]) if lat is not None else [math.nan] * 3
    return {
        "t_s": second,
        "shape_users": shape[0] if shape else 0,
        "users": running.get(second, 0),
        "target_rps": round(target_rate_at(info.profile, elapsed_s, info.shape == "flash"), 1),
        "offered_rps": sent.get(second, 0),
        "achieved_rps": len(answered),
        "ok_rps": sum(1 for a in answered if a.outcome == "ok"),
        "unknown_rps": sum(1 for a in done if a.outcome in UNKNOWN),
        "p50_ms": round(float(pct[0]), 3), "p90_ms": round(float(pct[1]), 3),
        "p99_ms": round(float(pct[2]), 3),
        "max_ms": round(float(lat.max()), 3) if lat is not None else math.nan,
        "issued": int(np.searchsorted(claimed, second + 1, side="left")),
    }  # fmt: skip


def _users_per_second(cpu: Sequence[CpuSample], open_s: float, seconds: range) -> dict[int, int]:
    """Running users at the end of each second, summed over the processes that run users
    (each process's latest sample; a sample is taken once a second)."""
    total: Counter[int] = Counter()
    for samples in by_pid(s for s in cpu if s.role != "master").values():
        times = [sample.t_s for sample in samples]
        for second in seconds:
            index = bisect.bisect_left(times, open_s + second + 1) - 1
            total[second] += samples[index].users if index >= 0 else 0
    return dict(total)


def write_series(path: Path, series: Sequence[dict[str, float]]) -> None:
    """Write ``series`` (the rows of :func:`timeseries`) to ``path`` as ``timeseries.csv``,
    replacing the file: a header of :data:`SERIES_COLUMNS` in that order, then one line per
    row in the order given (an empty series: the header alone). Each row holds exactly
    those keys (asserted: a missing column would be written empty and an extra one refused);
    values are written as Python prints them (a second without answers has ``nan``
    latencies). :func:`loadtest.report.render` reads every cell back as a float."""
    for row in series:
        assert row.keys() == set(SERIES_COLUMNS), sorted(row.keys() ^ set(SERIES_COLUMNS))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, SERIES_COLUMNS)
        writer.writeheader()
        writer.writerows(series)
