"""Pure decisions. Every function here reads its inputs and returns a verdict; none writes
(:func:`screen_claim` refreshes the stock's validity memo on a new local day,
:meth:`StockRules.refresh_validity_shift`: a cache of a pure function of the day).

A store calls the ``decide_*``/``admit_*`` functions inside its atomic step (one in-memory step,
one SQLite transaction, or — for Redis — the same checks are mirrored in one Lua script), then
applies the verdict. Nothing here reads a clock or a random generator: ``now_s`` and the uniform
draw ``u`` are arguments.
"""

from __future__ import annotations

import hashlib
import operator
from typing import NamedTuple

from engine.coupon import Coupon, CouponState
from engine.errors import InvalidDefinition, InvariantBroken
from engine.ledger import StockStatus
from engine.money import allocate, clawback_fen
from engine.outcomes import Outcome, Redemption
from engine.requests import (
    BudgetAdjustment,
    ClaimRequest,
    ExpiryRequest,
    RedemptionRequest,
    RefundRequest,
)
from engine.rules import LimitKey, StockRules
from engine.stock import RefundPolicy, StockSpec
from engine.values import RandomAmount

_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
# Enum members as module constants: attribute access on an enum class is slow in CPython 3.11.
_OK = Outcome.OK
_NOT_OPEN = Outcome.NOT_OPEN
_NOT_ELIGIBLE = Outcome.NOT_ELIGIBLE
_SOLD_OUT = Outcome.SOLD_OUT
_DAILY_SOLD_OUT = Outcome.DAILY_SOLD_OUT
_LIMIT_REACHED = Outcome.LIMIT_REACHED
_BUDGET_EXHAUSTED = Outcome.BUDGET_EXHAUSTED
_NOT_OWNER = Outcome.NOT_OWNER
_ALREADY_REDEEMED = Outcome.ALREADY_REDEEMED
_EXPIRED_OUTCOME = Outcome.EXPIRED
_NOT_APPLICABLE = Outcome.NOT_APPLICABLE
_BELOW_THRESHOLD = Outcome.BELOW_THRESHOLD
_REDEEMED = CouponState.REDEEMED
_EXPIRED = CouponState.EXPIRED
_SOLD_OUT_0 = (_SOLD_OUT, 0)
_DAILY_SOLD_OUT_0 = (_DAILY_SOLD_OUT, 0)
_LIMIT_REACHED_0 = (_LIMIT_REACHED, 0)
_BUDGET_EXHAUSTED_0 = (_BUDGET_EXHAUSTED, 0)


class ClaimPlan(NamedTuple):
    """A claim that passed the stateless checks, ready for the stateful ones."""

    request: ClaimRequest
    person_id: str
    opened_s: float  # when the current window slot opened
    value_fen: int  # drawn or fixed value of the coupon
    min_value_fen: int  # a random draw may be cut to the available budget, not below this
    day_key: int
    limit_keys: tuple[LimitKey, ...]
    valid_until_s: float
    now_s: float


# The hash domain of review challenges. ``#`` cannot occur in a stock id (``require_id``), so
# no challenge ever shares its hash input with a prize draw, whatever the stocks are called.
CHALLENGE_DOMAIN = "#challenge"


def uniform(seed: int, domain: str, request_id: str) -> float:
    """A uniform number in [0, 1) fixed by the seed, a hash domain and the request id.

    The domain of a random 立减金 draw is its stock id; other draws use a domain with a
    character that no stock id has (:data:`CHALLENGE_DOMAIN`), so two kinds of draw never hash
    the same input (the seed is digits and the domain has no NUL, so the three parts are
    unambiguous). Derived by hashing rather than from a sequential generator, so a draw replays
    exactly whatever order concurrent requests arrive in, and in every store.
    """
    digest = hashlib.blake2b(f"{seed}\x00{domain}\x00{request_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def screen_claim(
    rules: StockRules, request: ClaimRequest, person_id: str, now_s: float, seed: int
) -> ClaimPlan | Outcome:
    """The checks that need no shared state: window, eligibility, subject ids, the value drawn.

    Refuses with ``NOT_OPEN`` outside the window (absolute and weekly) and when a coupon claimed
    now would already be past its fixed validity end; ``NOT_ELIGIBLE`` when eligibility fails or
    the request lacks the id of a limited subject (a card-limited stock needs a card).
    """
    # The hot path of every claim: StockRules' plain attributes, no method hops when avoidable.
    day = rules.calendar.day(now_s)
    if not rules.window_start_s <= now_s < rules.window_end_s:
        return _NOT_OPEN
    opened_s = rules.window_start_s
    if rules.weekly:
        if not rules.is_open(now_s, day):
            return _NOT_OPEN
        opened_s = rules.opened_s(now_s, day)
    valid_until_s = rules.fixed_end_s
    if valid_until_s is None:  # N local days: a number per day (a memo), else the calendar
        memo = rules.validity_shift
        if memo[0] is not day:
            memo = rules.refresh_validity_shift(day)
        shift = memo[1]
        valid_until_s = rules.valid_until_s(now_s, day) if shift is None else now_s + shift
    if valid_until_s <= now_s:
        return _NOT_OPEN
    if not rules.open_to_all and not rules.is_eligible(request):
        return _NOT_ELIGIBLE
    keys = rules.limit_keys(request, person_id, day) if rules.limit_sources else ()
    if keys is None:
        return _NOT_ELIGIBLE
    value = rules.value_fen
    if rules.is_random:
        assert isinstance(rules.spec.value, RandomAmount)
        value = rules.spec.value.draw_fen(uniform(seed, rules.stock_id, request.request_id))
    minimum = rules.min_value_fen
    return _new(
        ClaimPlan,
        (
            request,
            person_id,
            opened_s,
            value,
            value if value < minimum else minimum,
            day.day_key,
            keys,
            valid_until_s,
            now_s,
        ),
    )


def admit_claim(
    spec: StockSpec,
    plan: ClaimPlan,
    issued: int,
    issued_today: int,
    available_fen: int,
    reserved_today_fen: int,
    limit_used: tuple[int, ...],
) -> tuple[Outcome, int]:
    """The stateful checks, given the counters read in the same atomic step.

    Returns the outcome and the coupon's value (a random draw is cut to what the budget still
    has, never below the smallest prize).
    """
    if issued >= spec.quota:
        return _SOLD_OUT, 0
    daily_quota = spec.daily_quota
    if daily_quota is not None and issued_today >= daily_quota:
        return _DAILY_SOLD_OUT, 0
    if spec.limits:
        for used, limit in zip(limit_used, spec.limits, strict=True):
            if used >= limit.count:
                return _LIMIT_REACHED, 0
    room = available_fen
    daily_budget_fen = spec.daily_budget_fen
    if daily_budget_fen is not None and daily_budget_fen - reserved_today_fen < room:
        room = daily_budget_fen - reserved_today_fen
    value = plan.value_fen
    if value > room:
        value = room
    if value < plan.min_value_fen:
        return _BUDGET_EXHAUSTED, 0
    return _OK, value


def admit_compiled(
    rules: StockRules,
    plan: ClaimPlan,
    issued: int,
    issued_today: int,
    available_fen: int,
    reserved_today_fen: int,
    limit_used: tuple[int, ...],
) -> tuple[Outcome, int]:
    """:func:`admit_claim` over a stock's compiled :class:`StockRules`: the same decision (a
    property test holds them equal), with every number read from plain attributes. Stores that
    hold the rules (the memory store) call this one on the hot path."""
    if issued >= rules.quota:
        return _SOLD_OUT_0
    daily_quota = rules.daily_quota
    if daily_quota is not None and issued_today >= daily_quota:
        return _DAILY_SOLD_OUT_0
    if limit_used and any(map(operator.ge, limit_used, rules.limit_counts)):
        return _LIMIT_REACHED_0
    room = available_fen
    daily_budget_fen = rules.daily_budget_fen
    if daily_budget_fen is not None and daily_budget_fen - reserved_today_fen < room:
        room = daily_budget_fen - reserved_today_fen
    value = plan.value_fen
    if value > room:
        value = room
    if value < plan.min_value_fen:
        return _BUDGET_EXHAUSTED_0
    return _OK, value


def check_order(request: RedemptionRequest) -> None:
    """Refuse malformed orders (a caller error, not an outcome): no lines, an amount that is not
    an integer >= 0, a repeated line id."""
    lines = request.lines
    if not lines:
        raise InvalidDefinition("lines", lines, "at least one order line")
    for line in lines:
        amount = line.amount_fen
        if amount.__class__ is not int or amount < 0:  # bool is not int here, on purpose
            raise InvalidDefinition("lines.amount_fen", amount, "an integer >= 0 (fen)")
    if len({line.line_id for line in lines}) != len(lines):
        seen = set()
        for line in lines:
            if line.line_id in seen:
                raise InvalidDefinition("lines.line_id", line.line_id, "unique line ids")
            seen.add(line.line_id)


def decide_redemption(
    spec: StockSpec, coupon: Coupon, request: RedemptionRequest, now_s: float
) -> Redemption | Outcome:
    """Whether ``coupon`` pays for the order, and how its discount splits over the lines.

    Checks, in order: owner, not yet redeemed, valid (state and ``valid_until_s``), some line in
    scope with a positive amount (else ``NOT_APPLICABLE``), the threshold (``BELOW_THRESHOLD``),
    a discount of at least 1 fen (a small percentage rounding down to 0: ``NOT_APPLICABLE``, the
    coupon gives nothing on this order, and stays unused). The discount is allocated over the
    lines in scope (largest remainder); lines out of scope get 0. Asserts invariant 5.
    """
    if coupon.customer_id != request.customer_id:
        return _NOT_OWNER
    state = coupon.state
    if state is _REDEEMED:
        return _ALREADY_REDEEMED
    if state is _EXPIRED or now_s >= coupon.valid_until_s:
        return _EXPIRED_OUTCOME
    lines = request.lines
    scope = spec.scope
    if scope.order_wide:
        amounts = [line.amount_fen for line in lines]
        eligible_fen = total_fen = sum(amounts)
    else:
        amounts = [
            line.amount_fen if scope.covers(line.item_id, line.category) else 0 for line in lines
        ]
        eligible_fen = sum(amounts)
        total_fen = request.total_fen
    if eligible_fen <= 0:
        return _NOT_APPLICABLE
    value = spec.value
    discount = value.discount_fen(eligible_fen, coupon.value_fen)
    if discount <= 0:  # under the threshold, or a percentage of a few fen rounding down to 0
        return _BELOW_THRESHOLD if eligible_fen < value.threshold_fen else _NOT_APPLICABLE
    shares = allocate(discount, amounts)
    if discount > eligible_fen or sum(shares) != discount:
        raise InvariantBroken(f"allocation of {discount} over {amounts}: {shares}")
    return _new(
        Redemption,
        (
            f"r-{request.request_id}",
            coupon.coupon_id,
            coupon.stock_id,
            coupon.customer_id,
            discount,
            total_fen - discount,
            tuple(zip([line.line_id for line in lines], shares, strict=True)),
            now_s,
            0,
            0,
            False,
        ),
    )


class RefundVerdict(NamedTuple):
    """A refund's effect: discount clawed back to available, or the coupon returned."""

    outcome: Outcome
    redemption: Redemption  # the redemption after the refund
    clawback_fen: int  # spent -> available
    return_fen: int  # spent -> reserved (coupon returned)
    topup_fen: int  # available -> reserved (coupon returned: the rest of its value)


def decide_refund(
    spec: StockSpec,
    coupon: Coupon,
    redemption: Redemption,
    request: RefundRequest,
    now_s: float,
    available_fen: int,
) -> RefundVerdict:
    """Pro-rata clawback on the cumulative refund; a full refund may return a valid coupon.

    A refund of ``amount_fen`` >= 1 of the paid amount; on a redemption whose discount covered
    the whole order (``paid_fen`` 0) the only refund is one of 0 fen, and it is a full refund
    (the order is cancelled: the discount is clawed back, or the coupon returned). Anything
    after a full refund (of any amount) is ``REFUND_EXCEEDS_PAID``.
    """
    amount = request.amount_fen
    paid = redemption.paid_fen
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < (paid > 0):
        expected = "an integer >= 1 (fen)" if paid else "0 (fen): the redemption paid 0"
        raise InvalidDefinition("amount_fen", amount, expected)
    refunded = redemption.refunded_fen + amount
    if refunded > paid or _fully_refunded(redemption):
        return RefundVerdict(Outcome.REFUND_EXCEEDS_PAID, redemption, 0, 0, 0)
    still_spent = redemption.discount_fen - redemption.clawed_back_fen
    topup = coupon.value_fen - redemption.discount_fen + redemption.clawed_back_fen
    full = refunded == redemption.paid_fen
    if (
        full
        and spec.refund_policy is RefundPolicy.RETURN_IF_VALID
        and now_s < coupon.valid_until_s
        and topup <= available_fen
    ):
        after = redemption._replace(
            refunded_fen=refunded, clawed_back_fen=redemption.discount_fen, returned=True
        )
        return RefundVerdict(Outcome.OK, after, 0, still_spent, topup)
    total_claw = clawback_fen(refunded, redemption.discount_fen, redemption.paid_fen)
    after = redemption._replace(refunded_fen=refunded, clawed_back_fen=total_claw)
    return RefundVerdict(Outcome.OK, after, total_claw - redemption.clawed_back_fen, 0, 0)


def _fully_refunded(redemption: Redemption) -> bool:
    """Whether a full refund happened: the coupon came back, or all that was paid is refunded
    with the whole discount clawed back (a redemption's discount is > 0, so on one that paid 0
    only a full refund claws it back)."""
    return redemption.returned or (
        redemption.refunded_fen == redemption.paid_fen
        and redemption.clawed_back_fen == redemption.discount_fen
    )


def check_expiry(request: ExpiryRequest, now_s: float) -> None:
    """Refuse an expiry run that reaches past the clock (a caller error): ``until_s`` must be a
    finite time at or before ``now_s``, so no coupon still valid now is ever expired."""
    until_s = request.until_s
    if not isinstance(until_s, int | float) or isinstance(until_s, bool) or until_s != until_s:
        raise InvalidDefinition("until_s", until_s, "a time in engine seconds")
    if until_s > now_s:
        raise InvalidDefinition(
            "until_s",
            until_s,
            f"a time at or before now_s {now_s!r} (coupons valid now stay valid)",
        )


def decide_budget(status: StockStatus, request: BudgetAdjustment) -> Outcome:
    """Compare-and-set of a stock's budget: it never drops below what is reserved and spent."""
    new = request.new_budget_fen
    if not isinstance(new, int) or isinstance(new, bool) or new < 0:
        raise InvalidDefinition("new_budget_fen", new, "an integer >= 0 (fen)")
    if status.budget_fen != request.expected_budget_fen:
        return Outcome.BUDGET_CHANGED
    if new < status.reserved_fen + status.spent_fen:
        return Outcome.BUDGET_BELOW_COMMITTED
    return Outcome.OK
