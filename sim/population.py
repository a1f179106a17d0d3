"""Sampling a replication's population up front, with numpy, so only actors become processes.

Every customer of a segment has an index ``0..size-1``. Customers are drawn in chunks of
:data:`CHUNK` (memory stays bounded whatever the segment's size), each chunk from its own
generator: a uniform for exposure and one for the claim response per customer (exposed when
``u < exposure_probability``, a responder — an *actor* — when also ``v < claim_probability``),
then the organic activation of new and dormant customers. Only actors and wool-puller accounts
get SimPy processes (one per claim attempt); everyone's organic purchases are aggregated.

Common random numbers, the contract that makes ``--compare`` meaningful:

* **Organic purchases** (the no-campaign counterfactual, :mod:`sim.organic`) are drawn for
  every customer, week by week, from a generator keyed by (segment, chunk, week). They depend on
  nothing the campaign sets: not on who responds, not on the stocks, not on the horizon (a
  longer horizon adds weeks; it never redraws the earlier ones). Two variants that differ only
  in their campaign therefore have exactly the same counterfactual.
* **Who responds** is a threshold on the customer's own uniforms: raising ``claim_probability``
  adds responders without changing the others.
* **Campaign behaviour** of an actor (arrival, intent, delays, order, IP; :mod:`sim.attempts`)
  comes from :mod:`sim.keyed` uniforms keyed by (segment, stock, customer index, repeat), so a
  customer who acts in both variants behaves the same in both.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np

from engine.calendar import LocalCalendar, zone
from engine.stock import StockSpec
from sim.attempts import (
    Attempts,
    FollowOn,
    StockSlots,
    activity_clock,
    follow_on,
    legit_attempts,
    ring_attempts,
)
from sim.keyed import key_of, stream, uniforms
from sim.organic import Organic, Picked, actor_csr, chunk_organic
from sim.segments import Segment
from sim.units import HOUR_S

CHUNK = 1 << 18  # customers drawn together


def openings(spec: StockSpec, start_s: float, end_s: float) -> list[tuple[float, float]]:
    """The stock's claim-window slots inside the campaign, as (open, close) seconds since the
    campaign start: one slot per weekly occurrence, or the whole window when it has none."""
    low, high = max(spec.window.start_s, start_s), min(spec.window.end_s, end_s)
    if high <= low:
        return []
    if not spec.window.weekly:
        return [(low - start_s, high - start_s)]
    calendar = LocalCalendar(spec.timezone)
    slots = []
    day = calendar.day(low)
    while day.start_s < high:
        for slot in spec.window.weekly:
            if slot.weekday != day.weekday:
                continue
            # Wall-clock slot times: on a daylight-saving day "10:00" is not start + 10 h.
            opened = max(calendar.wall_s(day, slot.start_minute * 60), low)
            closed = min(calendar.wall_s(day, slot.end_minute * 60), high)
            if closed > opened:
                slots.append((opened - start_s, closed - start_s))
        day = calendar.day(day.end_s)
    return sorted(slots)


@functools.lru_cache(maxsize=8)
def local_hours(start_s: float, timezone: str, hours: int) -> np.ndarray:
    """The local hour of day (0..23) at the start of each simulated hour (read-only).

    Computed once per scenario and process, not once per replication: it is one timezone
    conversion per simulated hour, and every replication of a scenario (and of its variant in a
    comparison, over the same horizon) asks for the same table."""
    tz = zone(timezone)
    table = np.array(
        [dt.datetime.fromtimestamp(start_s + h * HOUR_S, tz).hour for h in range(hours)],
        dtype=np.int64,
    )
    table.flags.writeable = False  # shared by every caller
    return table


@dataclass
class SegmentSample:
    """One segment's sample for one replication."""

    segment: Segment
    exposed: int
    customers: np.ndarray  # customer index of each actor (ring: account index)
    attempts: Attempts
    organic: Organic
    activation_s: np.ndarray  # per actor: organic activation time (inf: none)
    follow_on: FollowOn
    account_age_s: np.ndarray  # per actor

    @property
    def actors(self) -> int:
        """Responders (ring: accounts)."""
        return len(self.customers)


def sample_segment(
    segment: Segment,
    seed: int,
    stock_slots: dict[int, StockSlots],
    horizon_s: float,
    hours_of_day: np.ndarray,
) -> SegmentSample:
    """Sample ``segment`` for one replication; ``stock_slots`` maps the index of each of the
    segment's stocks to its id and openings (:func:`openings`); ``hours_of_day`` is the local
    hour of each simulated hour (:func:`local_hours`), covering the horizon."""
    assert segment.account_age is not None
    if segment.is_ring:
        return _sample_ring(segment, seed, stock_slots)
    exposed, customers, activation, organic = _customers(segment, seed, horizon_s)
    activity = activity_clock(segment.activity_by_hour, hours_of_day)
    attempts = legit_attempts(segment, seed, customers, stock_slots, activity)
    ages = segment.account_age.quantile(uniforms(key_of(seed, segment.name, "age"), customers, 0))
    follow = follow_on(segment, seed, customers)
    return SegmentSample(segment, exposed, customers, attempts, organic, activation, follow, ages)


def _sample_ring(segment: Segment, seed: int, stock_slots: dict[int, StockSlots]) -> SegmentSample:
    assert segment.account_age is not None
    accounts = np.arange(segment.size, dtype=np.int64)
    empty = np.zeros(0)
    organic = Organic(0, 0.0, 0, empty, empty, np.zeros(segment.size + 1, dtype=np.int64))
    follow = FollowOn(np.zeros(segment.size + 1, dtype=np.int64), empty, np.zeros(1))
    ages = segment.account_age.sample(stream(seed, segment.name, "age"), segment.size)
    return SegmentSample(
        segment, segment.size, accounts, ring_attempts(segment, seed, stock_slots), organic,
        np.full(segment.size, np.inf), follow, ages,
    )  # fmt: skip


# --- customers and their organic purchases ----------------------------------------------------


def _customers(
    segment: Segment, seed: int, horizon_s: float
) -> tuple[int, np.ndarray, np.ndarray, Organic]:
    """``(exposed, actors' customer indices, actors' activation times, organic purchases)``."""
    exposed = count = active = 0
    gmv = 0.0
    actors: list[np.ndarray] = []
    activation: list[np.ndarray] = []
    picked: Picked = []
    rank_base = 0
    for chunk, start in enumerate(range(0, segment.size, CHUNK)):
        n = min(CHUNK, segment.size - start)
        rng = stream(seed, segment.name, "customers", str(chunk))
        seen = rng.random(n) < segment.exposure_probability
        acts = seen & (rng.random(n) < segment.claim_probability)
        active_at = _activation_times(segment, rng, n)
        exposed += int(np.count_nonzero(seen))
        local = np.flatnonzero(acts)
        actors.append(local + start)
        activation.append(active_at[local])
        rank = np.cumsum(acts) - 1 + rank_base
        c, g, a = chunk_organic(segment, seed, chunk, active_at, horizon_s, acts, rank, picked)
        count, gmv, active = count + c, gmv + g, active + a
        rank_base += len(local)
    customers = np.concatenate(actors) if actors else np.zeros(0, dtype=np.int64)
    keys, amounts, offsets = actor_csr(picked, len(customers), horizon_s)
    organic = Organic(count, gmv, active, keys, amounts, offsets)
    times = np.concatenate(activation) if activation else np.zeros(0)
    return exposed, customers, times, organic


def _activation_times(segment: Segment, rng: np.random.Generator, n: int) -> np.ndarray:
    """When each customer of a chunk starts spending without any coupon (inf: not at all)."""
    p = segment.organic_activation_probability
    if p <= 0 or segment.activated_purchases_per_week <= 0:
        return np.full(n, np.inf)
    assert segment.organic_activation_delay is not None
    activates = rng.random(n) < p
    delay = segment.organic_activation_delay.sample(rng, n)
    return np.where(activates, delay, np.inf)
