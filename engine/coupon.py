"""Coupons (券) and their state machine, with every legal transition in one table."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from engine.errors import IllegalTransition


class CouponState(StrEnum):
    ISSUED = "issued"  # claimed, not yet used: its value is reserved
    REDEEMED = "redeemed"
    EXPIRED = "expired"


_TRANSITIONS: dict[CouponState, frozenset[CouponState]] = {
    CouponState.ISSUED: frozenset({CouponState.REDEEMED, CouponState.EXPIRED}),
    CouponState.REDEEMED: frozenset({CouponState.ISSUED}),  # a full refund returns it
    CouponState.EXPIRED: frozenset(),
}


def transition(current: CouponState, target: CouponState) -> CouponState:
    """``target`` if the move is legal; :class:`IllegalTransition` otherwise."""
    if target not in _TRANSITIONS[current]:
        raise IllegalTransition("coupon", current.value, target.value)
    return target


class Coupon(NamedTuple):
    """One issued coupon. ``value_fen`` is what it reserved: the face value, the discount cap,
    or the random amount drawn at claim."""

    coupon_id: str
    stock_id: str
    customer_id: str
    value_fen: int
    claimed_s: float
    valid_until_s: float
    state: CouponState = CouponState.ISSUED
    redemption_id: str = ""

    def moved(self, target: CouponState, redemption_id: str = "") -> Coupon:
        """This coupon in state ``target`` (checked against the transition table)."""
        return self._replace(state=transition(self.state, target), redemption_id=redemption_id)
