"""Claim attempts and follow-on spend of a segment's actors, sampled up front with numpy.

Legitimate customers' behaviour comes from :mod:`sim.keyed` uniforms keyed by (segment, stock,
customer index, repeat): a customer who acts in two variants of a campaign arrives, intends,
waits and orders the same in both. Arrivals outside an opening spike, claim delays and use
delays run on the segment's :class:`Activity` clock (from ``activity_by_hour``), so claims and
uses are rare at night. Wool-puller rings draw from one generator per stock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats as st

from sim.keyed import key_of, stream, uniforms
from sim.segments import Segment
from sim.units import DAY_S, HOUR_S, WEEK_S

REPEAT_BITS = 12  # attempt index = customer << 12 | repeat
MAX_REPEATS = (1 << REPEAT_BITS) - 1
FOLLOW_ON_BITS = 16  # follow-on purchase index = customer << 16 | rank
# purchases after a first use, per customer, in the attribution window: the parse bounds (100
# a week over 366 days: a mean of 5,229) stay far below it
MAX_FOLLOW_ON = (1 << FOLLOW_ON_BITS) - 1
# draw numbers of the keyed uniforms of one attempt (sim.keyed)
_FIRST, _REPEAT, _SPIKE, _SPIKE_DELAY, _OFFSET, _CLAIM_DELAY = range(6)
_USE, _USE_DELAY, _AMOUNT, _TOPUP, _REMIND, _REMIND_DELAY, _IP, _CHECKOUT = range(6, 14)


@dataclass(frozen=True)
class Activity:
    """A segment's activity clock: activity seconds elapsed at each simulated hour boundary.

    An hour of weight ``w`` lasts ``w / mean(profile)`` activity hours, so an activity day is a
    clock day on average. Uniform arrivals and delays in activity time become clock times that
    follow the daily cycle. Beyond the last boundary the clock stops (times past the horizon
    are dropped anyway)."""

    grid_s: np.ndarray
    cumulative_s: np.ndarray

    def to_activity(self, t_s: np.ndarray) -> np.ndarray:
        """Activity seconds at clock times ``t_s``."""
        activity: np.ndarray = np.interp(t_s, self.grid_s, self.cumulative_s)
        return activity

    def to_clock(self, a_s: np.ndarray) -> np.ndarray:
        """Clock times at activity seconds ``a_s``."""
        clock: np.ndarray = np.interp(a_s, self.cumulative_s, self.grid_s)
        return clock

    def after(self, t_s: np.ndarray, delay_s: np.ndarray) -> np.ndarray:
        """The clock time ``delay_s`` activity seconds after ``t_s`` (``t_s`` itself for 0)."""
        moved = self.to_clock(self.to_activity(t_s) + delay_s)
        return np.where(delay_s > 0, np.maximum(moved, t_s), t_s)


def activity_clock(profile: tuple[float, ...], hours_of_day: np.ndarray) -> Activity:
    """The :class:`Activity` of ``profile`` (weights per local hour) over the simulated hours
    whose local hours of day are ``hours_of_day``."""
    weights = np.asarray(profile, dtype=float)
    per_hour = weights[hours_of_day] / weights.mean() * HOUR_S
    cumulative = np.concatenate([[0.0], np.cumsum(per_hour)])
    return Activity(np.arange(len(hours_of_day) + 1) * HOUR_S, cumulative)


class StockSlots(NamedTuple):
    """A stock's id and its claim-window openings (:func:`openings`)."""

    stock_id: str
    slots: list[tuple[float, float]]


@dataclass
class Attempts:
    """Claim attempts of one segment, one entry per attempt (parallel arrays)."""

    stock: np.ndarray  # index into the scenario's stocks
    actor: np.ndarray  # actor rank in the segment (ring: account index)
    t_s: np.ndarray  # claim time, seconds since the campaign start
    will_use: np.ndarray  # bool: the customer means to use the coupon
    use_delay_s: np.ndarray
    amount_fen: np.ndarray  # the order the customer would place (before any top-up)
    topup: np.ndarray  # fraction above the threshold when the order is raised to it
    remind_u: np.ndarray  # uniform: responds to an expiry reminder when < the lever's response
    remind_delay: np.ndarray  # Exp(1): the delay to the use after a reminder, in lever means
    ip: np.ndarray  # ip index (ring: inside the ring's pool)
    checkout_u: np.ndarray  # uniform: answers a checkout reminder when < the lever's response

    def __len__(self) -> int:
        return len(self.t_s)


@dataclass
class FollowOn:
    """Each actor's purchases after a first coupon use, at ``activated_purchases_per_week``,
    as times relative to the use inside the attribution window (CSR as in :class:`Organic`;
    ``cumulative_fen[p]`` is the sum of the amounts before position ``p``)."""

    offsets: np.ndarray
    times_s: np.ndarray
    cumulative_fen: np.ndarray


def legit_attempts(
    segment: Segment,
    seed: int,
    customers: np.ndarray,
    stock_slots: dict[int, StockSlots],
    activity: Activity,
) -> Attempts:
    """One attempt per actor and stock at a uniformly chosen opening, plus geometric returns to
    the following openings; behaviour from keyed uniforms (see the module docstring)."""
    parts = []
    arrival = key_of(seed, segment.name, "arrival")  # shared by the stocks: a pack comes at once
    for stock_index in sorted(stock_slots):
        stock_id, slots = stock_slots[stock_index]
        if not slots or len(customers) == 0:
            continue
        key = key_of(seed, segment.name, "attempt", stock_id)
        actor, index, slot = _attempt_index(segment, key, customers, len(slots))
        opened = np.array([s[0] for s in slots])[slot]
        closed = np.array([s[1] for s in slots])[slot]
        t = _arrivals(segment, key, arrival, index, opened, closed, stock_id, activity)
        parts.append(_behaviour(segment, key, index, actor, t, stock_index, activity))
    return _concatenate(parts)


def _attempt_index(
    segment: Segment, key: np.uint64, customers: np.ndarray, slots: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(actor rank, attempt index, slot)`` of every attempt at one stock."""
    who = customers.astype(np.uint64) << np.uint64(REPEAT_BITS)
    first = np.minimum((uniforms(key, who, _FIRST) * slots).astype(np.int64), slots - 1)
    rp = segment.repeat_probability
    assert 0 <= rp < 1, "repeat_probability < 1 (checked when the scenario is parsed)"
    extra = np.zeros(len(who), dtype=np.int64)
    if rp > 0:  # P(extra >= k) = rp ** k: log(rp) < 0, so the quotient is finite
        returns = np.floor(np.log(uniforms(key, who, _REPEAT)) / np.log(rp))
        extra = np.minimum(returns, np.minimum(slots - 1 - first, MAX_REPEATS)).astype(np.int64)
    actor = np.repeat(np.arange(len(who)), extra + 1)
    repeat = _ranks(extra + 1)
    return actor, who[actor] | repeat.astype(np.uint64), first[actor] + repeat


def _arrivals(
    segment: Segment,
    key: np.uint64,
    arrival: np.uint64,
    index: np.ndarray,
    opened: np.ndarray,
    closed: np.ndarray,
    stock_id: str,
    activity: Activity,
) -> np.ndarray:
    """Claim times: in the opening spike (``spike_delay`` after it) with the stock's spike
    share, else spread over the slot along the activity clock; then ``claim_delay``."""
    assert segment.spike_delay is not None and segment.claim_delay is not None
    spike = uniforms(key, index, _SPIKE) < segment.spike_share_of(stock_id)
    rushed = opened + segment.spike_delay.quantile(uniforms(key, index, _SPIKE_DELAY))
    low, high = activity.to_activity(opened), activity.to_activity(closed)
    spread = activity.to_clock(low + uniforms(arrival, index, _OFFSET) * (high - low))
    base = np.where(spike, rushed, spread)
    return activity.after(
        base, segment.claim_delay.quantile(uniforms(arrival, index, _CLAIM_DELAY))
    )


def _behaviour(
    segment: Segment,
    key: np.uint64,
    index: np.ndarray,
    actor: np.ndarray,
    t: np.ndarray,
    stock_index: int,
    activity: Activity,
) -> Attempts:
    assert segment.redeem_delay is not None and segment.amount is not None
    use_s = activity.after(t, segment.redeem_delay.quantile(uniforms(key, index, _USE_DELAY)))
    return Attempts(
        stock=np.full(len(t), stock_index),
        actor=actor,
        t_s=t,
        will_use=uniforms(key, index, _USE) < segment.redemption_probability,
        use_delay_s=use_s - t,
        amount_fen=segment.amount.quantile_fen(uniforms(key, index, _AMOUNT)),
        topup=uniforms(key, index, _TOPUP) * segment.topup,
        remind_u=uniforms(key, index, _REMIND),
        remind_delay=-np.log(uniforms(key, index, _REMIND_DELAY)),
        ip=(uniforms(key, index, _IP) * segment.ip_pool).astype(np.int64),
        checkout_u=uniforms(key, index, _CHECKOUT),
    )


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0, 1, …, c-1 for each count c, concatenated."""
    if len(counts) == 0:
        return np.zeros(0, dtype=np.int64)
    starts: np.ndarray = np.repeat(np.cumsum(counts) - counts, counts)
    ranks: np.ndarray = np.arange(int(counts.sum())) - starts
    return ranks


def _concatenate(parts: list[Attempts]) -> Attempts:
    if not parts:
        z, zi = np.zeros(0), np.zeros(0, dtype=np.int64)
        return Attempts(zi, zi, z, np.zeros(0, bool), z, z, z, z, z, zi, z)
    names = Attempts.__dataclass_fields__
    return Attempts(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})


def ring_attempts(segment: Segment, seed: int, stock_slots: dict[int, StockSlots]) -> Attempts:
    """At every opening each account joins with ``participation``, ``claim_latency`` after it;
    one generator per stock (the rings' behaviour does not depend on the other stocks)."""
    assert segment.claim_latency is not None and segment.redeem_delay is not None
    parts = []
    for stock_index in sorted(stock_slots):
        stock_id, slots = stock_slots[stock_index]
        rng = stream(seed, segment.name, "ring", stock_id)
        for opened, _closed in slots:
            joins = np.flatnonzero(rng.random(segment.size) < segment.participation)
            n = len(joins)
            z = np.zeros(n)
            parts.append(Attempts(
                stock=np.full(n, stock_index), actor=joins,
                t_s=opened + segment.claim_latency.sample(rng, n), will_use=np.ones(n, bool),
                use_delay_s=segment.redeem_delay.sample(rng, n), amount_fen=z,
                topup=rng.random(n) * segment.hug_fen, remind_u=np.ones(n), remind_delay=z,
                ip=rng.integers(0, segment.ips_per_ring, n), checkout_u=np.ones(n),
            ))  # fmt: skip
    return _concatenate(parts)


def follow_on(segment: Segment, seed: int, customers: np.ndarray) -> FollowOn:
    """Each actor's purchases in the ``attribution_days`` after a first use (see
    :class:`FollowOn`), from keyed uniforms: the same customer spends the same in any variant."""
    rate = segment.activated_purchases_per_week / WEEK_S
    window_s = segment.attribution_days * DAY_S
    n = len(customers)
    if rate <= 0 or window_s <= 0 or n == 0 or segment.amount is None:
        return FollowOn(np.zeros(n + 1, dtype=np.int64), np.zeros(0), np.zeros(1))
    key = key_of(seed, segment.name, "follow-on")
    counts = poisson_counts(rate * window_s, uniforms(key, customers, 0))
    actor = np.repeat(np.arange(n), counts)
    index = customers[actor].astype(np.uint64) << np.uint64(FOLLOW_ON_BITS)
    index |= _ranks(counts).astype(np.uint64)
    times = uniforms(key, index, 1) * window_s
    amounts = segment.amount.quantile_fen(uniforms(key, index, 2))
    order = np.lexsort((times, actor))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    cumulative = np.concatenate([[0.0], np.cumsum(amounts[order])])
    return FollowOn(offsets, times[order], cumulative)


def poisson_counts(mean: float, u: np.ndarray) -> np.ndarray:
    """Poisson(``mean``) counts at the uniforms ``u`` (inverse CDF), exact for every uniform
    in (0, 1): the CDF is tabulated 20 standard deviations (and 40) past the mean, where it is
    1 in float64. A mean whose table would pass :data:`MAX_FOLLOW_ON` (far beyond the parse
    bounds' 100 a week × 366 days) fails loudly instead of being cut."""
    top = int(mean + 20 * math.sqrt(mean) + 40)
    assert top <= MAX_FOLLOW_ON + 1, f"a Poisson mean of {mean:,.0f} exceeds the follow-on bound"
    cdf = st.poisson.cdf(np.arange(top), mean)
    assert cdf[-1] == 1.0, "the tabulated CDF covers every uniform below 1"
    counts: np.ndarray = np.searchsorted(cdf, u).astype(np.int64)
    return counts
