"""Agents: SimPy processes that drive the real engine on the simulated clock.

``env.now`` is seconds since the campaign start; the engine's ``now_s`` is
``scenario.start_s + env.now``. Each claim attempt sampled by :mod:`sim.population` is one
process: it waits for its claim time, claims through :class:`~engine.engine.Engine` (memory
store, plus the risk engine when the scenario has rules), and, if the coupon is issued and the
customer means to use it (or answers an expiry reminder), waits for the use and redeems.

How a use changes spending (legitimate customers): the coupon *pulls forward* the customer's
next organic purchase if one falls within ``pull_forward_days`` (it is replaced by the coupon
purchase), otherwise it is an *extra* purchase; an order below the threshold is *enlarged* to
the threshold plus a small top-up, if the customer then pays, after the discount, at most
``1 + max_stretch`` times the order they meant to place (else the coupon lapses). New and
dormant customers spend at ``activated_purchases_per_week`` after their first use; what falls
within ``attribution_days`` of it, and before the day they would have started spending
anyway (organic activation), is counted as caused by the coupon. With the
checkout-reminder lever, a holder who did not mean to use the coupon uses it on their next
organic purchase while it is valid (with the lever's response). Wool-pullers place orders
hugging the threshold and have no organic spend.

A clock process ticks every simulated hour: it expires the coupons whose validity ended
(:class:`~engine.requests.ExpiryRequest`) and records each stock's hourly levels. It calls the
engine only when that can change something: ``expire`` when an issued coupon's validity has
ended by then, ``status`` when the stock was touched since its last reading (the hours in
between carry the last reading, which is what the engine would have returned).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from heapq import heappop, heappush
from typing import Any

import numpy as np
import simpy
from simpy.events import ProcessGenerator

from engine.coupon import Coupon
from engine.engine import Engine
from engine.outcomes import Outcome
from engine.requests import ClaimRequest, ExpiryRequest, OrderLine, RedemptionRequest
from engine.stock import StockSpec
from engine.store.memory import MemoryStore
from sim.attempts import Attempts
from sim.levers import Levers
from sim.segment_run import SegmentRun
from sim.stock_track import StockTrack
from sim.units import DAY_S, HOUR_S

_OK = Outcome.OK
_RISK_REJECTED = Outcome.RISK_REJECTED
_BUDGET_EXHAUSTED = Outcome.BUDGET_EXHAUSTED
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, restoring its previous state on exit.

    A replication allocates millions of small, long-lived objects (processes, requests,
    outcomes, ledger entries): each of the collector's full passes would rescan them all, again
    and again, while nothing here forms reference cycles that need collecting during the run.
    The first pass after the pause still scans whatever was allocated during it and is alive:
    :func:`sim.replication.replicate` therefore frees the harness before the pause ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Harness:
    """One replication's world: the SimPy environment, the engine and every counter."""

    def __init__(
        self,
        stocks: tuple[StockSpec, ...],
        start_s: float,
        horizon_s: float,
        seed: int,
        levers: Levers,
        risk: Any = None,
    ) -> None:
        self.env = simpy.Environment()
        self.timeout = self.env.timeout
        self.start_s = start_s
        self.horizon_s = horizon_s
        self.hours = max(1, math.ceil(horizon_s / HOUR_S))
        self.last_hour = self.hours - 1
        self.levers = levers
        self.risk = risk
        self.engine = Engine(MemoryStore(), seed=seed, risk=risk, identity=risk)
        self.stocks = [StockTrack(spec, self.hours) for spec in stocks]
        for spec in stocks:
            self.engine.create_stock(spec, f"create-{spec.stock_id}", start_s)
        self.claim_attempts = 0
        self.risk_rejections = 0
        self.abusive: dict[str, bool] = {}
        self.value_fen: dict[str, int] = {}
        self.expired = 0
        self.expiry_s: list[float] = []  # heap: valid_until_s (engine time) of issued coupons
        self.touched = True  # whether any stock is dirty (the clock's test, once an hour)

    # -- engine calls with recording ---------------------------------------------------------

    def claim(
        self, track: StockTrack, request: ClaimRequest, abusive: bool, at_s: float
    ) -> Coupon | None:
        """Claim through the engine at simulated time ``at_s`` (which must be ``env.now``),
        recording the outcome, the ground truth for the risk evaluation, the sell-out moment
        (the claim that issues the quota's last coupon) and budget refusals (the first one's
        moment and their count). Returns the issued coupon, or ``None``."""
        result = self.engine.claim(request, self.start_s + at_s)
        self.claim_attempts += 1
        if self.risk is not None:
            self.abusive[request.request_id] = abusive
            # money at stake in a claim: the coupon's expected value (a random 立减金's maximum
            # would overstate the money a rejection saves many times over)
            self.value_fen[request.request_id] = track.expected_fen
        outcome = result.outcome
        if outcome is _OK:
            coupon = result.coupon
            assert coupon is not None  # an OK claim always carries its coupon
            track.claims += 1
            hour, last = int(at_s // HOUR_S), self.last_hour
            track.claims_by_hour[hour if hour < last else last] += 1
            track.dirty = self.touched = True
            heappush(self.expiry_s, coupon.valid_until_s)
            if abusive:
                track.wool_claims += 1
            if track.claims == track.quota:
                track.sellout_s = at_s
            return coupon
        if outcome is _RISK_REJECTED:
            self.risk_rejections += 1
        elif outcome is _BUDGET_EXHAUSTED:
            track.budget_refusals += 1
            if track.budget_exhausted_s is None:
                track.budget_exhausted_s = at_s
        return None

    def redeem(
        self, track: StockTrack, request: RedemptionRequest, abusive: bool, value: int, at_s: float
    ) -> bool:
        """Redeem through the engine at simulated time ``at_s`` (``env.now``), recording the
        outcome (and the discount that went to wool-pullers). True when redeemed."""
        result = self.engine.redeem(request, self.start_s + at_s)
        if self.risk is not None:
            self.abusive[request.request_id] = abusive
            self.value_fen[request.request_id] = value
        outcome = result.outcome
        if outcome is _OK:
            track.redemptions += 1
            hour, last = int(at_s // HOUR_S), self.last_hour
            track.redemptions_by_hour[hour if hour < last else last] += 1
            track.dirty = self.touched = True
            if abusive:
                assert result.redemption is not None  # an OK redemption always carries it
                track.wool_spent_fen += result.redemption.discount_fen
            return True
        if outcome is _RISK_REJECTED:
            self.risk_rejections += 1
        return False

    def expire(self, hour: int, until_s: float) -> None:
        """Expire, through the engine, every issued coupon whose validity ended by ``until_s``
        (engine time); the harness's own due-dates heap says when that can be any."""
        due = self.expiry_s
        while due and due[0] <= until_s:
            heappop(due)
        # the clock ticks at until_s: expiring up to "now" and no later
        result = self.engine.expire(_new(ExpiryRequest, (f"expire-{hour}", until_s)), until_s)
        self.expired += result.expired_coupons
        if result.expired_coupons:
            self.touched = True
            for track in self.stocks:
                track.dirty = True

    def record_levels(self, hour: int) -> None:
        """Record each stock touched since its last reading at the end of ``hour``; the others
        keep their last reading (written out later by :meth:`finish`)."""
        self.touched = False
        for track in self.stocks:
            if track.dirty:
                status = self.engine.status(track.stock_id)
                track.record(hour, status.reserved_fen, status.spent_fen, status.issued)

    def finish(self) -> None:
        """Complete the hourly series after the run. The clock's last tick falls after the
        horizon's end when the horizon is not a whole number of hours (a fixed validity end):
        the last hour then holds the levels at the end of the run."""
        for track in self.stocks:
            if track.dirty:
                status = self.engine.status(track.stock_id)
                track.record(self.last_hour, status.reserved_fen, status.spent_fen, status.issued)
            track.carry_to(self.last_hour)

    # -- processes ---------------------------------------------------------------------------

    def start(self, runs: list[SegmentRun]) -> None:
        """Create one process per claim attempt inside the horizon, and the hourly clock."""
        # Every agent first waits t_s from time 0, so it claims at exactly env.now == t_s.
        assert self.env.now == 0.0, "start() runs once, before the simulation"
        process = self.env.process
        for run in runs:
            agent = ring_agent if run.is_ring else customer_agent
            for row in _attempt_rows(run.sample.attempts, self.horizon_s):
                process(agent(self, run, *row))
        process(clock(self))

    def run(self) -> None:
        """Run the replication to the end of the horizon, the cyclic GC paused throughout
        (:func:`sim.replication.replicate` keeps it paused from sampling to measuring)."""
        with cyclic_gc_paused():
            self.env.run(until=self.horizon_s + 1.0)
        self.finish()

    def use_at(self, claimed_s: float, valid_until_s: float, will_use: bool, delay_s: float,
               remind_u: float, remind_delay: float) -> float | None:  # fmt: skip
        """When the holder of a coupon claimed at ``claimed_s`` uses it, or ``None``."""
        use = claimed_s + delay_s if will_use else math.inf
        levers = self.levers
        if levers.expiry_reminder and remind_u < levers.reminder_response:
            reminded = valid_until_s - levers.reminder_days_before * DAY_S
            if claimed_s <= reminded < use:
                use = reminded + remind_delay * levers.reminder_use_within_days * DAY_S
        if use >= valid_until_s or use >= self.horizon_s:
            return None
        return use

    def checkout_use(
        self, run: SegmentRun, actor: int, claimed_s: float, valid_until_s: float, u: float
    ) -> tuple[int, float, float] | None:
        """The checkout-reminder lever: ``(position, time, amount)`` of the organic purchase
        on which a holder who did not mean to use the coupon uses it, or ``None``."""
        if not self.levers.checkout_reminder or u >= self.levers.checkout_response:
            return None
        return run.next_organic(actor, claimed_s, min(valid_until_s, self.horizon_s))


def _attempt_rows(a: Attempts, horizon_s: float) -> Iterator[tuple[Any, ...]]:
    """The agent arguments after ``(harness, run)`` of each attempt claimed inside
    ``[0, horizon_s)``, as plain Python values (numpy scalars are slow in the agents' code)."""
    keep = np.flatnonzero((a.t_s >= 0.0) & (a.t_s < horizon_s))
    columns = (
        a.stock, a.actor, a.t_s, a.will_use, a.use_delay_s, a.amount_fen, a.topup, a.remind_u,
        a.remind_delay, a.ip, a.checkout_u,
    )  # fmt: skip
    return zip(keep.tolist(), *(column[keep].tolist() for column in columns), strict=True)


def customer_agent(
    h: Harness, run: SegmentRun, j: int, stock: int, actor: int, t_s: float, will_use: bool,
    delay_s: float, amount: float, topup: float, remind_u: float, remind_delay: float, ip: int,
    checkout_u: float,
) -> ProcessGenerator:  # fmt: skip
    """A new, dormant or regular customer's claim attempt and (maybe) its use."""
    yield h.timeout(t_s)
    track = h.stocks[stock]
    request = run.claim_request(j, track.stock_id, actor, h.start_s + t_s, ip)
    coupon = h.claim(track, request, False, t_s)
    if coupon is None:
        return
    run.claimed[actor] = 1
    valid_until_s = coupon.valid_until_s - h.start_s
    use = h.use_at(t_s, valid_until_s, will_use, delay_s, remind_u, remind_delay)
    checkout = None
    if use is None:
        checkout = h.checkout_use(run, actor, t_s, valid_until_s, checkout_u)
        if checkout is None:
            return
        use = checkout[1]
    yield h.timeout(use - t_s)
    taken = run.take_organic(actor, use) if checkout is None else (checkout[0], checkout[2])
    _use(h, run, track, actor, request, coupon, use, taken, amount, topup)


def _redemption(
    request: ClaimRequest, coupon: Coupon, order_fen: int, track: StockTrack
) -> RedemptionRequest:
    """The redemption of ``coupon`` on a one-line order of ``order_fen`` in the stock's scope,
    sent with the claim's identifiers."""
    line = _new(OrderLine, ("1", order_fen, track.item, track.category))
    return _new(
        RedemptionRequest,
        (
            f"{request.request_id}:use", coupon.coupon_id, request.customer_id, (line,),
            request.device_id, request.ip,
        ),
    )  # fmt: skip


def _use(
    h: Harness, run: SegmentRun, track: StockTrack, actor: int, request: ClaimRequest,
    coupon: Coupon, use_s: float, taken: tuple[int, float], amount: float, topup: float,
) -> None:  # fmt: skip
    """Redeem a legitimate customer's coupon on an order: the organic purchase it replaces
    (``taken`` = (position, amount in fen); (-1, 0) for an extra purchase of ``amount``),
    raised to the threshold when it falls below and that is worth it (:func:`_order_fen`);
    otherwise the purchase goes ahead without the coupon."""
    position, replaced = taken
    order_fen = _order_fen(track, coupon.value_fen, replaced or amount, topup, run)
    if order_fen is None:
        run.consumed.discard(position)  # too far below the threshold: the coupon lapses
        return
    redemption = _redemption(request, coupon, order_fen, track)
    if not h.redeem(track, redemption, False, coupon.value_fen, h.env.now):
        run.consumed.discard(position)  # the purchase still happens, without the coupon
        return
    run.order_delta_fen += order_fen - replaced
    run.coupon_gmv_fen += order_fen
    if not run.redeemed[actor]:
        run.redeemed[actor] = 1
        if run.organic_count(actor) == 0:
            run.activated += 1
        run.follow_on_fen += run.follow_on(actor, use_s)


def _order_fen(
    track: StockTrack, value_fen: int, order: float, topup: float, run: SegmentRun
) -> int | None:
    """The order a coupon is used on: ``order`` itself when it reaches the threshold, else the
    threshold plus a top-up — if what the customer then pays, after the discount, is at most
    ``1 + max_stretch`` times the order they meant to place; else ``None`` (not worth it)."""
    if order >= track.threshold_fen:
        return max(1, int(order + 0.5))
    raised_fen = int(track.threshold_fen * (1.0 + topup) + 0.5)
    paid_fen = raised_fen - track.value.discount_fen(raised_fen, value_fen)
    return raised_fen if paid_fen <= order * (1.0 + run.segment.max_stretch) else None


def ring_agent(
    h: Harness, run: SegmentRun, j: int, stock: int, actor: int, t_s: float, will_use: bool,
    delay_s: float, amount: float, topup: float, remind_u: float, remind_delay: float, ip: int,
    checkout_u: float,
) -> ProcessGenerator:  # fmt: skip
    """A wool-puller account: claims seconds after the opening, cashes out at the threshold."""
    yield h.timeout(t_s)
    track = h.stocks[stock]
    request = run.claim_request(j, track.stock_id, actor, h.start_s + t_s, ip)
    coupon = h.claim(track, request, True, t_s)
    if coupon is None:
        return
    run.claimed[actor] = 1
    if t_s + delay_s >= min(coupon.valid_until_s - h.start_s, h.horizon_s):
        return
    yield h.timeout(delay_s)
    order_fen = max(track.threshold_fen, coupon.value_fen) + int(topup)
    redemption = _redemption(request, coupon, order_fen, track)
    if h.redeem(track, redemption, True, coupon.value_fen, h.env.now):
        run.redeemed[actor] = 1
        run.order_delta_fen += order_fen


def clock(h: Harness) -> ProcessGenerator:
    """Every simulated hour: expire what ended (if anything can have), then record each
    stock's levels."""
    timeout, due, start_s = h.timeout, h.expiry_s, h.start_s
    for hour in range(h.hours):
        yield timeout(HOUR_S)
        until_s = start_s + (hour + 1) * HOUR_S
        if due and due[0] <= until_s:
            h.expire(hour, until_s)
        if h.touched:
            h.record_levels(hour)


__all__ = ["HOUR_S", "Harness", "SegmentRun", "StockTrack", "cyclic_gc_paused"]
