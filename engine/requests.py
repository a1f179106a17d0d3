"""Requests into the engine. Immutable, hashable, and compared by value for idempotency.

Every mutating request carries a ``request_id``: the same id with the same request returns the
first outcome (rejections too); the same id with a different request raises
:class:`~engine.errors.RequestConflict`. The clock (``now``) is not part of the request: a replay
later in time still returns the first outcome.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.stock import StockSpec


class ClaimRequest(NamedTuple):
    """A customer asks for one coupon of a stock.

    The natural person (自然人) behind the claim is not a field: the engine's identity resolver
    derives it from the identifiers here (by default, the customer id is the person).
    ``account_created_s`` is a risk signal (account age) when the client has it.
    """

    request_id: str
    stock_id: str
    customer_id: str
    device_id: str = ""
    phone: str = ""
    card: str = ""
    ip: str = ""
    id_hash: str = ""
    segment: str = ""
    is_new_customer: bool = False
    account_created_s: float | None = None


class OrderLine(NamedTuple):
    """One line of an order. ``amount_fen`` is what the line costs before any discount."""

    line_id: str
    amount_fen: int
    item_id: str = ""
    category: str = ""


class RedemptionRequest(NamedTuple):
    """Pay an order with a coupon (核销). The discount is allocated over the eligible lines."""

    request_id: str
    coupon_id: str
    customer_id: str
    lines: tuple[OrderLine, ...]
    device_id: str = ""
    ip: str = ""

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


class RefundRequest(NamedTuple):
    """Refund ``amount_fen`` of a redemption's paid amount (full or partial)."""

    request_id: str
    redemption_id: str
    amount_fen: int


class ExpiryRequest(NamedTuple):
    """Expire every issued coupon whose validity ended at or before ``until_s``."""

    request_id: str
    until_s: float


class StockCreation(NamedTuple):
    """Create a stock (what :meth:`engine.Engine.create_stock` records under its request id).

    The same id with an equal ``spec`` returns the first outcome (the stock's status when it
    was created, or found); the same id with another spec — or any other request — raises
    :class:`~engine.errors.RequestConflict`. Under a new id, an existing stock with an equal
    definition answers its current status; with another definition,
    :class:`~engine.errors.DuplicateStock`: the stock id acts as a second idempotency key.
    """

    request_id: str
    spec: StockSpec


class BudgetAdjustment(NamedTuple):
    """Set a stock's budget to ``new_budget_fen`` if it is still ``expected_budget_fen`` (CAS)."""

    request_id: str
    stock_id: str
    expected_budget_fen: int
    new_budget_fen: int
