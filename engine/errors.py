"""The exception tree of the engine.

Expected outcomes of business calls (sold out, limit reached, window closed, …) are *not*
exceptions: they are :class:`engine.outcomes.Outcome` values inside typed results. Exceptions are
reserved for three things:

* a caller error that no retry can fix (:class:`InvalidDefinition`, :class:`RequestConflict`,
  :class:`UnknownStock`, :class:`UnknownCoupon`, :class:`UnknownRedemption`,
  :class:`DuplicateStock`);
* a broken invariant (:class:`InvariantBroken`) — a bug, never caught in normal flow;
* a store failure (:class:`StoreUnavailable`; :class:`IncompatibleStore` for a store file of
  another schema version).
"""

from __future__ import annotations


class CouponlabError(Exception):
    """Base of every error raised by Couponlab on purpose."""


class InvalidDefinition(CouponlabError, ValueError):
    """A definition (stock, rule, scenario, request field) has a bad value.

    The message always names the field, the value and what was expected, e.g.
    ``stock.quota = -1: expected an integer >= 1``.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field} = {value!r}: expected {expected}")


class RequestConflict(CouponlabError):
    """A request id was reused with a different payload (idempotency violation by the caller)."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(f"request_id {request_id!r} was already used with a different payload")


class UnknownStock(CouponlabError, LookupError):
    """No stock has this id."""

    def __init__(self, stock_id: str) -> None:
        self.stock_id = stock_id
        super().__init__(f"unknown stock {stock_id!r}")


class DuplicateStock(CouponlabError):
    """A stock with this id exists already with a different definition."""

    def __init__(self, stock_id: str) -> None:
        self.stock_id = stock_id
        super().__init__(f"stock {stock_id!r} already exists with a different definition")


class UnknownCoupon(CouponlabError, LookupError):
    """No coupon has this id."""

    def __init__(self, coupon_id: str) -> None:
        self.coupon_id = coupon_id
        super().__init__(f"unknown coupon {coupon_id!r}")


class UnknownRedemption(UnknownCoupon):
    """No redemption has this id (a refund names one). A subclass of :class:`UnknownCoupon`,
    which refunds raised before this class existed, so callers catching that still work."""

    def __init__(self, redemption_id: str) -> None:
        super().__init__(redemption_id)
        self.redemption_id = redemption_id
        self.args = (f"unknown redemption {redemption_id!r}",)


class IllegalTransition(CouponlabError, AssertionError):
    """A state machine was asked for a move it does not allow (a bug in the caller)."""

    def __init__(self, machine: str, current: str, target: str) -> None:
        super().__init__(f"{machine}: illegal transition {current} -> {target}")


class InvariantBroken(CouponlabError, AssertionError):
    """One of design.md's invariants does not hold. Never expected; always a bug."""


class StoreUnavailable(CouponlabError):
    """The store could not be reached or refused the operation for an operational reason."""


class IncompatibleStore(StoreUnavailable):
    """The store's data was written under another schema version (a SQLite file of an earlier
    Couponlab): refused at open, with a message naming it and what to do. Nothing is changed."""
