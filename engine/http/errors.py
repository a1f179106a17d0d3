"""The one table from engine outcomes and exceptions to HTTP statuses and error codes.

Every non-2xx answer of the service is ``{"error": CODE, "message": TEXT, ...}``. Expected
rejections (:class:`~engine.outcomes.Outcome`) and the engine's exception tree
(:mod:`engine.errors`) map here, and so do the failures of the HTTP layer itself (bad JSON, body
too large, missing token, rate limit). Handlers never choose a status for an error themselves.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.errors import (
    DuplicateStock,
    InvalidDefinition,
    RequestConflict,
    StoreUnavailable,
    UnknownCoupon,
    UnknownRedemption,
    UnknownStock,
)
from engine.outcomes import Outcome


class HttpError(Exception):
    """A failure of the HTTP layer; ``status`` and ``code`` come from :data:`ERRORS`."""

    def __init__(
        self, message: str, headers: tuple[tuple[bytes, bytes], ...] = (), **extra: object
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers  # extra response headers (Retry-After, Allow, WWW-Authenticate)
        self.extra = extra  # extra body fields


class InvalidJson(HttpError):
    """The body is not JSON (or not UTF-8)."""


class BodyTooLarge(HttpError):
    """The body exceeds the configured limit."""


class Unauthorized(HttpError):
    """An admin call without the right ``Authorization: Bearer <token>``."""


class RateLimited(HttpError):
    """The client IP has no token left in its bucket."""


class RouteNotFound(HttpError):
    """No route has this path."""


class MethodNotAllowed(HttpError):
    """The path exists, the method does not."""


class Status(NamedTuple):
    status: int
    code: str


# Expected outcomes. OK is 201 for the calls that create something (claim, redemption, refund);
# the budget handler answers 200 itself because it updates.
OUTCOMES: dict[Outcome, Status] = {
    Outcome.OK: Status(201, "ok"),
    Outcome.NOT_OPEN: Status(425, "not_open"),
    Outcome.SOLD_OUT: Status(409, "sold_out"),
    Outcome.DAILY_SOLD_OUT: Status(409, "daily_sold_out"),
    Outcome.BUDGET_EXHAUSTED: Status(409, "budget_exhausted"),
    Outcome.LIMIT_REACHED: Status(409, "limit_reached"),
    Outcome.NOT_ELIGIBLE: Status(403, "not_eligible"),
    Outcome.RISK_REJECTED: Status(403, "risk_rejected"),
    Outcome.EXPIRED: Status(409, "expired"),
    Outcome.ALREADY_REDEEMED: Status(409, "already_redeemed"),
    Outcome.NOT_OWNER: Status(403, "not_owner"),
    Outcome.BELOW_THRESHOLD: Status(409, "below_threshold"),
    Outcome.NOT_APPLICABLE: Status(409, "not_applicable"),
    Outcome.REFUND_EXCEEDS_PAID: Status(409, "refund_exceeds_paid"),
    Outcome.BUDGET_CHANGED: Status(409, "budget_changed"),
    Outcome.BUDGET_BELOW_COMMITTED: Status(409, "budget_below_committed"),
}

# Exceptions, most specific first (the first isinstance match wins).
ERRORS: tuple[tuple[type[Exception], Status], ...] = (
    (InvalidJson, Status(400, "invalid_json")),
    (Unauthorized, Status(401, "unauthorized")),
    (RouteNotFound, Status(404, "not_found")),
    (UnknownStock, Status(404, "unknown_stock")),
    (UnknownRedemption, Status(404, "unknown_redemption")),  # before its base, UnknownCoupon
    (UnknownCoupon, Status(404, "unknown_coupon")),
    (MethodNotAllowed, Status(405, "method_not_allowed")),
    (DuplicateStock, Status(409, "duplicate_stock")),
    (RequestConflict, Status(409, "request_conflict")),
    (BodyTooLarge, Status(413, "body_too_large")),
    (InvalidDefinition, Status(422, "invalid_field")),
    (RateLimited, Status(429, "rate_limited")),
    (StoreUnavailable, Status(503, "store_unavailable")),
)

INTERNAL = Status(500, "internal")

OUTCOME_MESSAGES: dict[Outcome, str] = {
    Outcome.NOT_OPEN: "the claim window is not open",
    Outcome.SOLD_OUT: "the stock's quota is used up",
    Outcome.DAILY_SOLD_OUT: "today's quota is used up",
    Outcome.BUDGET_EXHAUSTED: "the budget cannot cover another coupon",
    Outcome.LIMIT_REACHED: "a per-subject limit is reached",
    Outcome.NOT_ELIGIBLE: "the customer is not eligible for this stock",
    Outcome.RISK_REJECTED: "the risk engine rejected the request",
    Outcome.EXPIRED: "the coupon is no longer valid",
    Outcome.ALREADY_REDEEMED: "the coupon is already redeemed",
    Outcome.NOT_OWNER: "the coupon belongs to another customer",
    Outcome.BELOW_THRESHOLD: "the eligible amount is under the coupon's threshold",
    Outcome.NOT_APPLICABLE: (
        "the coupon gives nothing on this order: no order line is in its scope, or its "
        "percentage discount rounds to 0 fen (the coupon stays unused)"
    ),
    Outcome.REFUND_EXCEEDS_PAID: "the refund exceeds what is left of the paid amount",
    Outcome.BUDGET_CHANGED: "the budget is not the expected one (compare-and-set lost)",
    Outcome.BUDGET_BELOW_COMMITTED: "the new budget is below reserved + spent",
}


def status_of_exception(error: Exception) -> Status:
    """The status of ``error`` from :data:`ERRORS`; :data:`INTERNAL` when it is not listed."""
    for kind, status in ERRORS:
        if isinstance(error, kind):
            return status
    return INTERNAL


def error_body(error: Exception) -> dict[str, object]:
    """``{"error", "message", ...}`` for an exception listed in :data:`ERRORS`."""
    status = status_of_exception(error)
    if isinstance(error, InvalidDefinition):
        field = error.field
        return {"error": status.code, "message": _field_message(error), "field": field}
    if isinstance(error, HttpError):
        return {"error": status.code, "message": error.message, **error.extra}
    if status is INTERNAL:
        return {"error": status.code, "message": "internal error (logged)"}
    return {"error": status.code, "message": str(error)}


def _field_message(error: InvalidDefinition) -> str:
    value = repr(error.value)
    if len(value) > 80:
        value = value[:77] + "..."
    return f"{error.field} = {value}: expected {error.expected}"


def outcome_error(outcome: Outcome) -> tuple[int, dict[str, object]]:
    """Status and the ``error``/``message`` part of the body for a rejection outcome."""
    status = OUTCOMES[outcome]
    return status.status, {"error": status.code, "message": OUTCOME_MESSAGES[outcome]}
