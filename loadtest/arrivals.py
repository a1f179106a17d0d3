"""The open model: customers arrive at a target rate whether or not the server keeps up.

Locust's ``constant_throughput(x)`` is ``constant_pacing(1/x)``: each user starts a task at
most every ``1/x`` s — it only limits a user's rate. Users that start together (the crowd at
10:00) then fire together, every ``users / rate`` seconds: measured at a target of 600 claims/s
with 2,000 users, the offered load per second swung between 0.17× and 4.1× the target (mean
error 83%). So each Locust process runs one arrival clock instead:

- :func:`arrival_times` (pure) — a Poisson process whose rate follows the flash-sale shape
  (:func:`loadtest.profile.target_rate_at`, divided among the processes), by thinning
  (Lewis & Shedler): candidates at the peak rate, each kept with probability rate/peak;
- :class:`Arrivals` — a greenlet that releases each arrival at its time into a bounded queue;
  the customers of the process take one arrival per claim (:meth:`Arrivals.take`). An arrival
  that finds no free user within ``timeout_s`` leaves (the customer gave up): then the
  process had too few users for the rate (Little's law: users ≥ rate × latency), and the
  offered rate falls visibly short of the target in the report.

Wool-puller bots take no arrivals: they keep firing in bursts as fast as the server answers,
on top of the customers' rate.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator

import gevent
from gevent.queue import Empty, Full, Queue

from loadtest.profile import Profile, target_rate_at

POLL_S = 0.25  # how often a user waiting for an arrival checks whether it is being stopped
MIN_SLEEP_S = 0.001  # arrivals due within this are released together (bounds the wake-ups)
QUEUE_BOUND = 100_000  # arrivals waiting for a free user, per process (a bound on memory)


def arrival_times(
    rate_at: Callable[[float], float], peak_rate: float, end_s: float, rng: random.Random
) -> Iterator[float]:
    """Arrival instants in ``[0, end_s)`` of a Poisson process of intensity ``rate_at(t)``
    (≤ ``peak_rate``), in increasing order."""
    assert math.isfinite(end_s), end_s
    if peak_rate <= 0:
        return
    t = 0.0
    while True:
        t += rng.expovariate(peak_rate)
        if t >= end_s:
            return
        if rng.random() * peak_rate < rate_at(t):
            yield t


class Arrivals:
    """One process's arrival clock (its ``share`` of the profile's target rate), on the shape's
    clock that started ``shape_start_s`` (epoch): the opening minus ``window_opens_after_s``."""

    def __init__(
        self,
        profile: Profile,
        share: float,
        shape_start_s: float,
        rng: random.Random,
        flash: bool = True,
    ) -> None:
        self.profile = profile
        self.flash = flash  # False: the constant shape, a constant target
        self.share = share
        self.shape_start_s = shape_start_s
        self.rng = rng
        self.queue: Queue[float] = Queue(maxsize=QUEUE_BOUND)
        self.released = 0
        self.given_up = 0  # arrivals that waited longer than timeout_s for a free user

    def run(self) -> None:
        """Release every arrival at its time (run it in a greenlet; kill it to stop)."""
        profile, share = self.profile, self.share
        times = arrival_times(
            lambda t: target_rate_at(profile, t, self.flash) * share,
            profile.arrival_rate_per_s * share,
            profile.duration_s,
            self.rng,
        )
        for t in times:
            due_s = self.shape_start_s + t
            delay_s = due_s - time.time()
            if delay_s > MIN_SLEEP_S:
                gevent.sleep(delay_s)
            try:
                self.queue.put_nowait(due_s)
                self.released += 1
            except Full:
                self.given_up += 1

    def take(self, leaving: Callable[[], bool]) -> float | None:
        """The next arrival's due time (epoch) for a free user, or ``None`` once ``leaving()``.
        Arrivals that waited longer than ``timeout_s`` are dropped as given up."""
        while not leaving():
            try:
                due_s = float(self.queue.get(timeout=POLL_S))
            except Empty:
                continue
            if time.time() - due_s > self.profile.timeout_s:
                self.given_up += 1
                continue
            return due_s
        return None
