"""Claims in bulk: every claim of one group-commit batch in one pass of the batch's transaction.

:func:`claim_all` gives, claim for claim and in order, what :func:`engine.store.sqlite_ops.claim`
run once per claim would give (a test holds them equal), in a handful of statements instead of
about ten per claim: it reads the outcomes of every request id (in its stock: request ids are
scoped per stock), each stock's counters, each
day's counters and each limit counter once, decides every claim with
:func:`~engine.decide.admit_claim` on those counters as the claims before it left them, and
writes all coupons, ledger entries and outcomes with one multi-row ``INSERT`` each and every
counter with one statement. It runs inside the writer's ``BEGIN IMMEDIATE`` transaction, so no
other process can move a counter between the reads and the writes; a claim later in the batch
sees the earlier ones (the last coupon, a limit, a request id sent twice).

A claim's own expected failures (:class:`~engine.errors.RequestConflict`,
:class:`~engine.errors.UnknownStock`) are returned in its place; anything else raises, and the
writer then redoes the claims one by one, each in its own savepoint.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from engine.coupon import Coupon
from engine.decide import ClaimPlan, admit_claim
from engine.errors import CouponlabError, RequestConflict, UnknownStock
from engine.ledger import LedgerEntry, Movement
from engine.outcomes import ClaimResult, Outcome
from engine.rules import LimitKey, StockRules
from engine.store import codec, sqlite_ops

_OK = Outcome.OK
_new = tuple.__new__
ROWS_PER_INSERT = 128  # multi-row statements are cached per row count: a bound on their number


class ClaimWork(NamedTuple):
    """One claim for the writer: what :func:`sqlite_ops.claim` takes."""

    rules: StockRules
    plan: ClaimPlan
    flagged: bool
    reasons: tuple[str, ...]
    request_text: str


class _Stock:
    """A stock's counters as read in this transaction, moved by the claims admitted so far."""

    __slots__ = ("available_fen", "claimed_fen", "issued", "issued_before")

    def __init__(self, issued: int, available_fen: int) -> None:
        self.issued = self.issued_before = issued
        self.available_fen = available_fen
        self.claimed_fen = 0


class _Batch:
    """The counters read so far and the rows to write, for one :func:`claim_all`."""

    def __init__(self, connection: sqlite3.Connection, request_ids: list[tuple[str, str]]) -> None:
        self.connection = connection
        # (stock id, request id) -> (request text, stored result text or this batch's result)
        self.outcomes: dict[tuple[str, str], tuple[str, str | ClaimResult]] = _outcomes(
            connection, request_ids
        )
        self.stocks: dict[str, _Stock] = {}
        self.days: dict[tuple[str, int], list[int]] = {}  # (stock, day) -> [issued, reserved]
        self.day_deltas: dict[tuple[str, int], list[int]] = {}
        self.limits: dict[LimitKey, int] = {}
        self.limit_deltas: dict[LimitKey, int] = {}
        self.coupons: list[object] = []  # flattened rows
        self.persons: list[object] = []
        self.ledger: list[object] = []
        self.rows: list[object] = []  # outcomes

    def stock(self, stock_id: str) -> _Stock:
        stock = self.stocks.get(stock_id)
        if stock is None:
            row = self.connection.execute(
                "SELECT issued, available_fen FROM stocks WHERE stock_id = ?", (stock_id,)
            ).fetchone()
            if row is None:
                raise UnknownStock(stock_id)
            stock = self.stocks[stock_id] = _Stock(row[0], row[1])
        return stock

    def day(self, stock_id: str, day_key: int) -> list[int]:
        key = (stock_id, day_key)
        day = self.days.get(key)
        if day is None:
            row = self.connection.execute(
                "SELECT issued, reserved_fen FROM daily WHERE stock_id = ? AND day_key = ?", key
            ).fetchone()
            day = self.days[key] = list(row or (0, 0))
        return day

    def used(self, keys: tuple[LimitKey, ...]) -> tuple[int, ...]:
        limits = self.limits
        missing = [key for key in keys if key not in limits]
        if missing:
            limits.update(dict.fromkeys(missing, 0))
            limits.update(_limits_used(self.connection, missing))
        return tuple([limits[key] for key in keys])


def claim_all(
    connection: sqlite3.Connection, works: Sequence[ClaimWork]
) -> list[ClaimResult | CouponlabError]:
    """Admit and issue ``works`` in order; each one's result or its expected error."""
    batch = _Batch(connection, [(w.rules.stock_id, w.plan.request.request_id) for w in works])
    answers: list[ClaimResult | CouponlabError] = []
    for work in works:
        try:
            answers.append(_claim(batch, work))
        except (RequestConflict, UnknownStock) as error:
            answers.append(error)
    _write(batch)
    return answers


def _claim(batch: _Batch, work: ClaimWork) -> ClaimResult:
    rules, plan, flagged, reasons, request_text = work
    request = plan.request
    request_id = request.request_id
    stock_id = rules.stock_id
    prior = batch.outcomes.get((stock_id, request_id))
    if prior is not None:
        if prior[0] != request_text:
            raise RequestConflict(request_id)
        result = prior[1]
        return codec.decode_result(result) if type(result) is str else result  # type: ignore[return-value]
    stock = batch.stock(stock_id)
    day = batch.day(stock_id, plan.day_key)
    used = batch.used(plan.limit_keys) if plan.limit_keys else ()
    outcome, value = admit_claim(
        rules.spec, plan, stock.issued, day[0], stock.available_fen, day[1], used
    )
    if outcome is _OK:
        coupon = _issue(batch, plan, stock, day, value, rules.person_limited)
        pieces = codec.issued_claim_template(stock_id, flagged, reasons)
        stored = (
            f"{pieces[0]}{stock.issued}{pieces[1]}{codec.json_text(request.customer_id)}"
            f"{pieces[2]}{value}{pieces[3]}{codec.json_text(plan.now_s)}{pieces[4]}"
            f"{codec.json_text(plan.valid_until_s)}{pieces[5]}"
        )
    else:
        coupon, stored = None, codec.refused_claim_text(outcome, flagged, reasons)
    result = _new(ClaimResult, (outcome, coupon, flagged, reasons))
    batch.rows += (stock_id, request_id, request_text, stored)
    batch.outcomes[(stock_id, request_id)] = (request_text, result)
    return result


def _issue(
    batch: _Batch,
    plan: ClaimPlan,
    stock: _Stock,
    day: list[int],
    value: int,
    person_limited: bool,
) -> Coupon:
    """Move the counters of an admitted claim and queue its rows (as ``sqlite_ops._issue``)."""
    request = plan.request
    stock_id = request.stock_id
    stock.issued += 1
    stock.available_fen -= value
    stock.claimed_fen += value
    day[0] += 1
    day[1] += value
    delta = batch.day_deltas.setdefault((stock_id, plan.day_key), [0, 0])
    delta[0] += 1
    delta[1] += value
    for key in plan.limit_keys:
        batch.limits[key] += 1
        batch.limit_deltas[key] = batch.limit_deltas.get(key, 0) + 1
    coupon_id = f"{stock_id}.{stock.issued}"
    now_s, valid_until_s = plan.now_s, plan.valid_until_s
    customer_id = request.customer_id
    batch.coupons += (coupon_id, stock_id, stock.issued, request.request_id, customer_id, value)
    batch.coupons += (now_s, valid_until_s)
    if person_limited:
        batch.persons += (coupon_id, stock_id, plan.person_id)
    if value:  # a movement of 0 fen is not a ledger entry (as in sqlite_ops._post)
        batch.ledger += (stock_id, "claim", value, request.request_id, coupon_id, now_s)
    return Coupon(coupon_id, stock_id, customer_id, value, now_s, valid_until_s)


def _write(batch: _Batch) -> None:
    """Every row and counter change of the batch, in as few statements as the row counts give."""
    connection = batch.connection
    _insert(connection, "coupons", "(?, ?, ?, ?, ?, ?, ?, ?, 'issued', '')", batch.coupons)
    _insert(connection, "claim_persons", "(?, ?, ?)", batch.persons)
    _insert(
        connection,
        "ledger (stock_id, movement, amount_fen, request_id, coupon_id, at_s)",
        "(?, ?, ?, ?, ?, ?)",
        batch.ledger,
    )
    _insert(
        connection, "outcomes (stock_id, request_id, request, result)", "(?, ?, ?, ?)", batch.rows
    )
    for stock_id, stock in batch.stocks.items():
        issued = stock.issued - stock.issued_before
        if issued:
            entry = LedgerEntry(stock_id, Movement.CLAIM, stock.claimed_fen, "", "", 0.0)
            sqlite_ops.move_accounts(connection, stock_id, [entry], issued=issued)
    connection.executemany(
        "INSERT INTO daily VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
        "issued = issued + excluded.issued, reserved_fen = reserved_fen + excluded.reserved_fen",
        [(*key, issued, reserved) for key, (issued, reserved) in batch.day_deltas.items()],
    )
    connection.executemany(
        "INSERT INTO limits VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
        "used = used + excluded.used",
        [(*key, count) for key, count in batch.limit_deltas.items()],
    )


def _insert(connection: sqlite3.Connection, into: str, row: str, values: list[object]) -> None:
    """``INSERT INTO {into} VALUES row, row, …`` over flattened ``values``, in chunks."""
    width = row.count("?")
    chunk = ROWS_PER_INSERT * width
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        connection.execute(_insert_sql(into, row, len(part) // width), part)


@lru_cache(maxsize=512)
def _insert_sql(into: str, row: str, rows: int) -> str:
    return f"INSERT INTO {into} VALUES " + ", ".join([row] * rows)


def _outcomes(
    connection: sqlite3.Connection, request_ids: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str | ClaimResult]]:
    """The stored (request text, result text) of each (stock id, request id) that has one."""
    by_stock: dict[str, dict[str, None]] = {}
    for stock_id, request_id in request_ids:
        by_stock.setdefault(stock_id, {})[request_id] = None
    found: dict[tuple[str, str], tuple[str, str | ClaimResult]] = {}
    for stock_id, unique in by_stock.items():
        ids = list(unique)
        for start in range(0, len(ids), ROWS_PER_INSERT):
            part = ids[start : start + ROWS_PER_INSERT]
            rows = connection.execute(_select_sql(len(part)), (stock_id, *part))
            found.update(((stock_id, rid), (request, result)) for rid, request, result in rows)
    return found


@lru_cache(maxsize=256)
def _select_sql(count: int) -> str:
    marks = ", ".join(["?"] * count)
    return (
        "SELECT request_id, request, result FROM outcomes"
        f" WHERE stock_id = ? AND request_id IN ({marks})"
    )


def _limits_used(connection: sqlite3.Connection, keys: list[LimitKey]) -> dict[LimitKey, int]:
    """The stored counts of those of ``keys`` that have one."""
    found: dict[LimitKey, int] = {}
    for key in keys:  # few per claim; the primary key makes each a single seek
        row = connection.execute(
            "SELECT used FROM limits WHERE stock_id = ? AND limit_index = ? AND subject = ? "
            "AND period_key = ?",
            key,
        ).fetchone()
        if row is not None:
            found[key] = int(row[0])
    return found
