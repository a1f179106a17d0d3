"""The double-entry budget ledger (预算台账) and reconciliation (对账).

Each stock's budget lives in three accounts — ``available``, ``reserved`` (issued, not yet
redeemed) and ``spent`` — plus the outside ``funding`` account that budgets come from. Every
movement of money is an append-only :class:`LedgerEntry` naming its request id. Replaying the
entries from empty must reproduce every counter of the stock: that is reconciliation.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import NamedTuple

from engine.coupon import Coupon, CouponState


class Account(StrEnum):
    FUNDING = "funding"
    AVAILABLE = "available"
    RESERVED = "reserved"
    SPENT = "spent"


class Movement(StrEnum):
    FUND = "fund"  # budget created or raised
    DEFUND = "defund"  # budget lowered
    CLAIM = "claim"  # a coupon's value is reserved
    REDEEM = "redeem"  # the actual discount is spent
    RELEASE_UNUSED = "release_unused"  # the part of the reservation a redemption did not use
    EXPIRE = "expire"  # an unused coupon's reservation is released
    CLAWBACK = "clawback"  # a refund takes discount back
    RETURN = "return"  # a full refund returns the coupon: its discount is reserved again
    RETURN_TOPUP = "return_topup"  # … and the rest of its value too


MOVES: dict[Movement, tuple[Account, Account]] = {
    Movement.FUND: (Account.FUNDING, Account.AVAILABLE),
    Movement.DEFUND: (Account.AVAILABLE, Account.FUNDING),
    Movement.CLAIM: (Account.AVAILABLE, Account.RESERVED),
    Movement.REDEEM: (Account.RESERVED, Account.SPENT),
    Movement.RELEASE_UNUSED: (Account.RESERVED, Account.AVAILABLE),
    Movement.EXPIRE: (Account.RESERVED, Account.AVAILABLE),
    Movement.CLAWBACK: (Account.SPENT, Account.AVAILABLE),
    Movement.RETURN: (Account.SPENT, Account.RESERVED),
    Movement.RETURN_TOPUP: (Account.AVAILABLE, Account.RESERVED),
}


class LedgerEntry(NamedTuple):
    """One movement of ``amount_fen`` (> 0) between two accounts of a stock."""

    stock_id: str
    movement: Movement
    amount_fen: int
    request_id: str
    coupon_id: str
    at_s: float


class StockStatus(NamedTuple):
    """A stock's counters as its store keeps them (and as reconciliation replays them)."""

    stock_id: str
    budget_fen: int
    available_fen: int
    reserved_fen: int
    spent_fen: int
    issued: int  # coupons ever issued
    redeemed: int  # coupons in state redeemed now
    expired: int


class Reconciliation(NamedTuple):
    """The outcome of replaying the ledger against the stored counters and coupons."""

    stock_id: str
    ok: bool
    mismatches: tuple[str, ...]
    replayed: StockStatus
    entries: int


def replay(stock_id: str, entries: Iterable[LedgerEntry]) -> tuple[StockStatus, int]:
    """The counters that ``entries`` imply, replayed from empty, and how many entries there were.

    A coupon's return after a full refund writes ``return`` and/or ``return_topup`` (whichever
    moves a non-zero amount; together they move the coupon's whole value, so at least one
    exists): one return is counted per (request id, coupon id) carrying either.
    """
    balance = dict.fromkeys(Account, 0)
    counts = dict.fromkeys(Movement, 0)
    returns: set[tuple[str, str]] = set()
    total = 0
    for entry in entries:
        source, target = MOVES[entry.movement]
        balance[source] -= entry.amount_fen
        balance[target] += entry.amount_fen
        counts[entry.movement] += 1
        if entry.movement in _RETURNS:
            returns.add((entry.request_id, entry.coupon_id))
        total += 1
    status = StockStatus(
        stock_id=stock_id,
        budget_fen=-balance[Account.FUNDING],
        available_fen=balance[Account.AVAILABLE],
        reserved_fen=balance[Account.RESERVED],
        spent_fen=balance[Account.SPENT],
        issued=counts[Movement.CLAIM],
        redeemed=counts[Movement.REDEEM] - len(returns),
        expired=counts[Movement.EXPIRE],
    )
    return status, total


_RETURNS = frozenset({Movement.RETURN, Movement.RETURN_TOPUP})


def reconcile(
    stored: StockStatus, entries: Iterable[LedgerEntry], coupons: Iterable[Coupon]
) -> Reconciliation:
    """Replay ``entries`` and compare with ``stored`` counters and the ``coupons`` themselves.

    Checks: every entry moves a positive amount; every counter equals its replay; the accounts
    sum to the budget and none is negative; the coupons in each state match the counters; the
    reserved account equals the value of the issued coupons; and, coupon by coupon, the entries
    naming it reserve exactly its value while it is issued and nothing otherwise.
    """
    entries = list(entries)
    coupons = list(coupons)
    replayed, total = replay(stored.stock_id, entries)
    mismatches = [
        f"entry {e.request_id} moves {e.amount_fen} fen" for e in entries if e.amount_fen <= 0
    ]
    mismatches += [
        f"{name}: stored {getattr(stored, name)} != replayed {getattr(replayed, name)}"
        for name in StockStatus._fields[1:]
        if getattr(stored, name) != getattr(replayed, name)
    ]
    mismatches += _account_problems(stored)
    mismatches += _coupon_problems(stored, coupons)
    mismatches += _per_coupon_problems(entries, coupons)
    return Reconciliation(stored.stock_id, not mismatches, tuple(mismatches), replayed, total)


def _account_problems(status: StockStatus) -> list[str]:
    problems = []
    accounts = (status.available_fen, status.reserved_fen, status.spent_fen)
    if sum(accounts) != status.budget_fen:
        problems.append(
            f"available + reserved + spent = {sum(accounts)} != budget {status.budget_fen}"
        )
    if min(accounts) < 0:
        problems.append(f"negative account: {accounts}")
    return problems


def _coupon_problems(status: StockStatus, coupons: Iterable[Coupon]) -> list[str]:
    by_state = dict.fromkeys(CouponState, 0)
    ids = set()
    issued_value = 0
    total = 0
    for coupon in coupons:
        total += 1
        ids.add(coupon.coupon_id)
        by_state[coupon.state] += 1
        if coupon.state is CouponState.ISSUED:
            issued_value += coupon.value_fen
    problems = []
    if len(ids) != total:
        problems.append(f"duplicate coupon ids: {total - len(ids)}")
    if total != status.issued:
        problems.append(f"coupons {total} != issued {status.issued}")
    if by_state[CouponState.REDEEMED] != status.redeemed:
        problems.append(f"redeemed coupons {by_state[CouponState.REDEEMED]} != {status.redeemed}")
    if by_state[CouponState.EXPIRED] != status.expired:
        problems.append(f"expired coupons {by_state[CouponState.EXPIRED]} != {status.expired}")
    if issued_value != status.reserved_fen:
        problems.append(f"value of issued coupons {issued_value} != reserved {status.reserved_fen}")
    return problems


def _per_coupon_problems(entries: list[LedgerEntry], coupons: list[Coupon]) -> list[str]:
    """Replay each coupon's own entries: exactly one ``claim`` of its value, the state its last
    state-changing entry implies, a reserved balance equal to its value while issued and zero
    otherwise, and a spent balance within 0..value. Lists at most :data:`MAX_COUPON_PROBLEMS`
    problems, then how many more there are."""
    books = _coupon_books(entries)
    known = {coupon.coupon_id for coupon in coupons}
    problems = [f"entries name unknown coupon {cid}" for cid in sorted(books.keys() - known)]
    for coupon in coupons:
        problems += _coupon_book_problems(coupon, books.get(coupon.coupon_id, _Book()))
    if len(problems) > MAX_COUPON_PROBLEMS:
        more = len(problems) - MAX_COUPON_PROBLEMS
        problems = [*problems[:MAX_COUPON_PROBLEMS], f"... and {more} more coupon problems"]
    return problems


MAX_COUPON_PROBLEMS = 20


class _Book:
    """One coupon's replayed entries."""

    __slots__ = ("claims", "reserved_fen", "spent_fen", "state")

    def __init__(self) -> None:
        self.claims: list[int] = []
        self.reserved_fen = 0
        self.spent_fen = 0
        self.state: CouponState | None = None


# The coupon state each movement leaves behind (movements absent here leave it as it was).
_STATE_AFTER = {
    Movement.CLAIM: CouponState.ISSUED,
    Movement.REDEEM: CouponState.REDEEMED,
    Movement.EXPIRE: CouponState.EXPIRED,
    Movement.RETURN: CouponState.ISSUED,
    Movement.RETURN_TOPUP: CouponState.ISSUED,
}


def _coupon_books(entries: list[LedgerEntry]) -> dict[str, _Book]:
    """Every coupon's entries replayed, by coupon id (entries without a coupon are skipped)."""
    books: dict[str, _Book] = {}
    for entry in entries:
        cid = entry.coupon_id
        if not cid:
            continue
        book = books.get(cid)
        if book is None:
            book = books[cid] = _Book()
        source, target = MOVES[entry.movement]
        for account, amount in ((source, -entry.amount_fen), (target, entry.amount_fen)):
            if account is Account.RESERVED:
                book.reserved_fen += amount
            elif account is Account.SPENT:
                book.spent_fen += amount
        if entry.movement == Movement.CLAIM:
            book.claims.append(entry.amount_fen)
        book.state = _STATE_AFTER.get(entry.movement, book.state)
    return books


def _coupon_book_problems(coupon: Coupon, book: _Book) -> list[str]:
    cid, value = coupon.coupon_id, coupon.value_fen
    held = value if coupon.state is CouponState.ISSUED else 0
    problems = []
    if book.claims != [value]:
        problems.append(f"coupon {cid}: claim entries {book.claims} != [{value}]")
    if book.state != coupon.state:
        problems.append(f"coupon {cid}: state {coupon.state} but its entries say {book.state}")
    if book.reserved_fen != held:
        problems.append(f"coupon {cid} {coupon.state}: reserved {book.reserved_fen} != {held}")
    if not 0 <= book.spent_fen <= value:
        problems.append(f"coupon {cid}: spent {book.spent_fen} outside 0..{value}")
    return problems
