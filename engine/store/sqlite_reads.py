"""Reads of the SQLite store: the ones the write operations make inside their transaction, and
the listings the store's read connections make (one read transaction for a snapshot).

Request outcomes are keyed by (scope, request id): the scope is the request's stock
(:func:`engine.store.base.scope_of`), a refund's is its redemption's stock (:func:`scope_in`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from engine.coupon import Coupon, CouponState
from engine.errors import RequestConflict, UnknownCoupon, UnknownRedemption, UnknownStock
from engine.ledger import LedgerEntry, Movement, StockStatus
from engine.outcomes import ClaimResult, Redemption
from engine.requests import ClaimRequest, RefundRequest
from engine.rules import LimitKey
from engine.store import codec
from engine.store.base import Request, Result, StockRecords, scope_of

STATUS_COLUMNS = "budget_fen, available_fen, reserved_fen, spent_fen, issued, redeemed, expired"
COUPON_COLUMNS = "coupon_id, stock_id, customer_id, value_fen, claimed_s, valid_until_s, state, "
COUPON_COLUMNS += "redemption_id"


def status_of(connection: sqlite3.Connection, stock_id: str) -> StockStatus:
    row = connection.execute(
        f"SELECT {STATUS_COLUMNS} FROM stocks WHERE stock_id = ?", (stock_id,)
    ).fetchone()
    if row is None:
        raise UnknownStock(stock_id)
    return StockStatus(stock_id, *row)


def coupon_from_row(row: tuple[object, ...]) -> Coupon:
    coupon_id, stock_id, customer_id, value_fen, claimed_s, valid_until_s, state, rid = row
    return Coupon(
        str(coupon_id),
        str(stock_id),
        str(customer_id),
        int(value_fen),  # type: ignore[call-overload]
        float(claimed_s),  # type: ignore[arg-type]
        float(valid_until_s),  # type: ignore[arg-type]
        CouponState(str(state)),
        str(rid),
    )


def coupon_of(connection: sqlite3.Connection, coupon_id: str) -> Coupon:
    row = connection.execute(
        f"SELECT {COUPON_COLUMNS} FROM coupons WHERE coupon_id = ?", (coupon_id,)
    ).fetchone()
    if row is None:
        raise UnknownCoupon(coupon_id)
    return coupon_from_row(row)


def redemption_of(connection: sqlite3.Connection, redemption_id: str) -> Redemption:
    row = connection.execute(
        "SELECT body FROM redemptions WHERE redemption_id = ?", (redemption_id,)
    ).fetchone()
    if row is None:
        raise UnknownRedemption(redemption_id)
    return codec.redemption_from_obj(codec.loads(row[0]))


def scope_in(connection: sqlite3.Connection, request: Request) -> str | None:
    """:func:`scope_of` ``request``, a refund's read from its redemption (None: unknown)."""
    if isinstance(request, RefundRequest):
        row = connection.execute(
            "SELECT stock_id FROM redemptions WHERE redemption_id = ?", (request.redemption_id,)
        ).fetchone()
        return None if row is None else str(row[0])
    return scope_of(request)


def prior_of(
    connection: sqlite3.Connection, scope: str, request_id: str, request_text: str
) -> Result | None:
    """The stored outcome of ``request_id`` in ``scope``; :class:`RequestConflict` if it was
    another request's."""
    row = connection.execute(
        "SELECT request, result FROM outcomes WHERE stock_id = ? AND request_id = ?",
        (scope, request_id),
    ).fetchone()
    if row is None:
        return None
    if row[0] != request_text:
        raise RequestConflict(request_id)
    return codec.decode_result(row[1])


# -- listings (a stock's records) --------------------------------------------------------------


@contextmanager
def snapshot(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction: every read inside sees the database as of its first read (WAL)."""
    connection.execute("BEGIN")
    try:
        yield connection
    finally:
        connection.execute("COMMIT")


def coupons(connection: sqlite3.Connection, stock_id: str) -> list[Coupon]:
    rows = connection.execute(
        f"SELECT {COUPON_COLUMNS} FROM coupons WHERE stock_id = ? ORDER BY seq", (stock_id,)
    )
    return [coupon_from_row(row) for row in rows]


def ledger(connection: sqlite3.Connection, stock_id: str) -> list[LedgerEntry]:
    rows = connection.execute(
        "SELECT movement, amount_fen, request_id, coupon_id, at_s FROM ledger "
        "WHERE stock_id = ? ORDER BY entry_id",
        (stock_id,),
    )
    return [LedgerEntry(stock_id, Movement(m), a, r, c, at) for m, a, r, c, at in rows]


def issued_claims(
    connection: sqlite3.Connection, stock_id: str
) -> list[tuple[ClaimRequest, Coupon]]:
    """Each issued claim's request and coupon as issued, in issue order."""
    rows = connection.execute(
        "SELECT o.request, o.result FROM coupons c JOIN outcomes o "
        "ON o.stock_id = c.stock_id AND o.request_id = c.request_id "
        "WHERE c.stock_id = ? ORDER BY c.seq",
        (stock_id,),
    )
    pairs = []
    for request_text, result_text in rows:
        request = codec.decode_request(request_text)
        result = codec.decode_result(result_text)
        assert isinstance(request, ClaimRequest) and isinstance(result, ClaimResult)
        assert result.coupon is not None
        pairs.append((request, result.coupon))
    return pairs


def limit_usage(connection: sqlite3.Connection, stock_id: str) -> dict[LimitKey, int]:
    rows = connection.execute(
        "SELECT limit_index, subject, period_key, used FROM limits WHERE stock_id = ?",
        (stock_id,),
    )
    return {(stock_id, index, subject, period): used for index, subject, period, used in rows}


def daily_usage(connection: sqlite3.Connection, stock_id: str) -> dict[int, tuple[int, int]]:
    rows = connection.execute(
        "SELECT day_key, issued, reserved_fen FROM daily WHERE stock_id = ?", (stock_id,)
    )
    return {day: (issued, reserved) for day, issued, reserved in rows}


def claim_persons(connection: sqlite3.Connection, stock_id: str) -> dict[str, str]:
    rows = connection.execute(
        "SELECT coupon_id, person_id FROM claim_persons WHERE stock_id = ?", (stock_id,)
    )
    return dict(rows.fetchall())


def records(connection: sqlite3.Connection, stock_id: str) -> StockRecords:
    """Every record of the stock, read in one read transaction (one snapshot)."""
    with snapshot(connection):
        return StockRecords(
            status_of(connection, stock_id),
            tuple(ledger(connection, stock_id)),
            tuple(coupons(connection, stock_id)),
            tuple(issued_claims(connection, stock_id)),
            limit_usage(connection, stock_id),
            daily_usage(connection, stock_id),
            claim_persons(connection, stock_id),
        )
