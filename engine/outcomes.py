"""Outcomes of engine calls: one enum of every expected result, and typed result values.

Expected rejections are values, not exceptions, so that they can be stored under their request id
and replayed identically, and so that the simulation can count them cheaply.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from engine.coupon import Coupon


class Outcome(StrEnum):
    OK = "ok"
    # claim
    NOT_OPEN = "not_open"  # outside the claim window
    SOLD_OUT = "sold_out"  # total quota reached
    DAILY_SOLD_OUT = "daily_sold_out"  # daily quota reached
    BUDGET_EXHAUSTED = "budget_exhausted"  # available (or today's) budget cannot cover a coupon
    LIMIT_REACHED = "limit_reached"  # a per-subject limit is reached
    NOT_ELIGIBLE = "not_eligible"  # segment, whitelist or new-customers-only
    RISK_REJECTED = "risk_rejected"  # the risk engine rejected (or review treated as reject)
    # redemption
    EXPIRED = "expired"
    ALREADY_REDEEMED = "already_redeemed"
    NOT_OWNER = "not_owner"
    BELOW_THRESHOLD = "below_threshold"  # eligible amount under the 满减 threshold
    # the coupon gives nothing on this order: no line in scope, or its discount rounds to 0 fen
    NOT_APPLICABLE = "not_applicable"
    # refund
    REFUND_EXCEEDS_PAID = "refund_exceeds_paid"
    # budget adjustment
    BUDGET_CHANGED = "budget_changed"  # compare-and-set lost: the budget is not the expected one
    BUDGET_BELOW_COMMITTED = "budget_below_committed"  # new budget < reserved + spent

    @property
    def ok(self) -> bool:
        return self is Outcome.OK


class ClaimResult(NamedTuple):
    """The outcome of a claim; ``coupon`` is set exactly when ``outcome`` is OK.

    ``flagged`` is true when risk said *review* and the stock's policy let the claim pass.
    ``reasons`` are the risk reasons (rule id and triggering values) when risk had any.
    """

    outcome: Outcome
    coupon: Coupon | None = None
    flagged: bool = False
    reasons: tuple[str, ...] = ()


class Redemption(NamedTuple):
    """A redemption (核销) as recorded: the discount and its allocation over order lines."""

    redemption_id: str
    coupon_id: str
    stock_id: str
    customer_id: str
    discount_fen: int
    paid_fen: int  # what the customer paid: order total minus discount
    line_discounts: tuple[tuple[str, int], ...]  # (line_id, discount_fen) for every line
    redeemed_s: float
    refunded_fen: int = 0
    clawed_back_fen: int = 0
    returned: bool = False  # the coupon went back to the customer after a full refund


class RedemptionResult(NamedTuple):
    outcome: Outcome
    redemption: Redemption | None = None
    flagged: bool = False
    reasons: tuple[str, ...] = ()


class RefundResult(NamedTuple):
    outcome: Outcome
    clawed_back_fen: int = 0
    coupon_returned: bool = False
    redemption: Redemption | None = None


class ExpiryResult(NamedTuple):
    outcome: Outcome
    expired_coupons: int = 0
    released_fen: int = 0


class BudgetResult(NamedTuple):
    outcome: Outcome
    budget_fen: int = 0
