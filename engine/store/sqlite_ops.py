"""The operations of the SQLite store that run inside one write transaction.

Every function here takes the writer's connection while it holds ``BEGIN IMMEDIATE``: it reads
the counters it needs *inside* the transaction (:mod:`engine.store.sqlite_reads`), asks
:mod:`engine.decide` for the verdict, and writes. Nothing is cached between transactions except
stock definitions, which never change, so other processes writing the same file between two
batches are seen. Each looks for the request's first outcome in its scope first (the request's
stock; store-wide for an expiry). The schema is :mod:`engine.store.sqlite_schema`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence

from engine.coupon import Coupon, CouponState
from engine.decide import (
    ClaimPlan,
    admit_claim,
    check_expiry,
    decide_budget,
    decide_redemption,
    decide_refund,
)
from engine.errors import DuplicateStock, InvariantBroken
from engine.ledger import LedgerEntry, Movement, StockStatus
from engine.outcomes import (
    BudgetResult,
    ClaimResult,
    ExpiryResult,
    Outcome,
    Redemption,
    RedemptionResult,
    RefundResult,
)
from engine.requests import (
    BudgetAdjustment,
    ExpiryRequest,
    RedemptionRequest,
    RefundRequest,
    StockCreation,
)
from engine.rules import LimitKey, StockRules
from engine.spec_io import stock_to_dict
from engine.stock import StockSpec
from engine.store import codec
from engine.store.base import STORE_WIDE, Request, Result, unknown_scope
from engine.store.sqlite_reads import coupon_of, prior_of, redemption_of, scope_in, status_of

_M = Movement
SpecOf = Callable[[str], StockSpec]


# -- writes -----------------------------------------------------------------------------------


def _save(
    connection: sqlite3.Connection, scope: str, request_id: str, request_text: str, result: Result
) -> None:
    connection.execute(
        "INSERT INTO outcomes (stock_id, request_id, request, result) VALUES (?, ?, ?, ?)",
        (scope, request_id, request_text, codec.encode_result(result)),
    )


def _post(
    connection: sqlite3.Connection,
    stock_id: str,
    entries: Iterable[LedgerEntry],
    issued: int = 0,
    redeemed: int = 0,
    expired: int = 0,
) -> None:
    """Append ``entries`` to the ledger and apply them (and the coupon counts) to the stock."""
    moved = [entry for entry in entries if entry.amount_fen]
    connection.executemany(
        "INSERT INTO ledger (stock_id, movement, amount_fen, request_id, coupon_id, at_s) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (e.stock_id, str(e.movement), e.amount_fen, e.request_id, e.coupon_id, e.at_s)
            for e in moved
        ],
    )
    move_accounts(connection, stock_id, moved, issued, redeemed, expired)


def move_accounts(
    connection: sqlite3.Connection,
    stock_id: str,
    entries: Sequence[LedgerEntry],
    issued: int = 0,
    redeemed: int = 0,
    expired: int = 0,
) -> None:
    """Apply the movements of ``entries`` (and the coupon counts) to the stock's columns; a
    broken ``CHECK`` (a negative account, issued over quota) raises :class:`InvariantBroken`."""
    d = codec.account_deltas(entries)
    try:
        connection.execute(
            "UPDATE stocks SET budget_fen = budget_fen + ?, available_fen = available_fen + ?, "
            "reserved_fen = reserved_fen + ?, spent_fen = spent_fen + ?, issued = issued + ?, "
            "redeemed = redeemed + ?, expired = expired + ? WHERE stock_id = ?",
            (
                d["budget_fen"],
                d["available_fen"],
                d["reserved_fen"],
                d["spent_fen"],
                issued,
                redeemed,
                expired,
                stock_id,
            ),
        )
    except sqlite3.IntegrityError as error:
        raise InvariantBroken(f"stock {stock_id}: {error}") from error


def create_stock(
    connection: sqlite3.Connection, spec: StockSpec, request_id: str, now_s: float, spec_of: SpecOf
) -> StockStatus:
    """Create a stock, or answer its first outcome (see :meth:`Store.create_stock`)."""
    request = StockCreation(request_id, spec)
    text = codec.encode_request(request)
    row = connection.execute("SELECT 1 FROM stocks WHERE stock_id = ?", (spec.stock_id,)).fetchone()
    if row is not None and spec_of(spec.stock_id) != spec:
        raise DuplicateStock(spec.stock_id)  # first: the stock id names one definition
    prior = prior_of(connection, spec.stock_id, request_id, text)
    if prior is not None:
        return prior  # type: ignore[return-value]
    if row is None:
        connection.execute(
            "INSERT INTO stocks VALUES (?, ?, ?, 0, 0, 0, 0, 0, 0, 0)",
            (spec.stock_id, codec.dumps(stock_to_dict(spec)), spec.quota),
        )
        fund = LedgerEntry(spec.stock_id, _M.FUND, spec.budget_fen, request_id, "", now_s)
        _post(connection, spec.stock_id, [fund])
    status = status_of(connection, spec.stock_id)
    _save(connection, spec.stock_id, request_id, text, status)
    return status


def record(
    connection: sqlite3.Connection, request: Request, request_text: str, result: Result
) -> Result:
    """Record a stateless rejection in the request's scope, or answer its first outcome."""
    scope = scope_in(connection, request)
    if scope is None:
        raise unknown_scope(request)
    prior = prior_of(connection, scope, request.request_id, request_text)
    if prior is not None:
        return prior
    _save(connection, scope, request.request_id, request_text, result)
    return result


def _limit_used(connection: sqlite3.Connection, key: LimitKey) -> int:
    row = connection.execute(
        "SELECT used FROM limits WHERE stock_id = ? AND limit_index = ? AND subject = ? "
        "AND period_key = ?",
        key,
    ).fetchone()
    return 0 if row is None else int(row[0])


def claim(
    connection: sqlite3.Connection,
    rules: StockRules,
    plan: ClaimPlan,
    flagged: bool,
    reasons: tuple[str, ...],
    request_text: str,
) -> ClaimResult:
    """Admit with :func:`~engine.decide.admit_claim` on counters read here, then issue."""
    request = plan.request
    stock_id = rules.stock_id
    prior = prior_of(connection, stock_id, request.request_id, request_text)
    if prior is not None:
        return prior  # type: ignore[return-value]
    status = status_of(connection, stock_id)
    day = connection.execute(
        "SELECT issued, reserved_fen FROM daily WHERE stock_id = ? AND day_key = ?",
        (stock_id, plan.day_key),
    ).fetchone() or (0, 0)
    used = tuple([_limit_used(connection, key) for key in plan.limit_keys])
    outcome, value = admit_claim(
        rules.spec, plan, status.issued, day[0], status.available_fen, day[1], used
    )
    coupon = None
    if outcome is Outcome.OK:
        coupon = _issue(connection, plan, status.issued + 1, value, rules.person_limited)
    result = ClaimResult(outcome, coupon, flagged, reasons)
    _save(connection, stock_id, request.request_id, request_text, result)
    return result


def _issue(
    connection: sqlite3.Connection, plan: ClaimPlan, seq: int, value_fen: int, person_limited: bool
) -> Coupon:
    request = plan.request
    stock_id = request.stock_id
    coupon = Coupon(
        f"{stock_id}.{seq}",
        stock_id,
        request.customer_id,
        value_fen,
        plan.now_s,
        plan.valid_until_s,
    )
    connection.execute(
        "INSERT INTO coupons VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'issued', '')",
        (
            coupon.coupon_id,
            stock_id,
            seq,
            request.request_id,
            coupon.customer_id,
            value_fen,
            coupon.claimed_s,
            coupon.valid_until_s,
        ),
    )
    connection.execute(
        "INSERT INTO daily VALUES (?, ?, 1, ?) ON CONFLICT DO UPDATE SET issued = issued + 1, "
        "reserved_fen = reserved_fen + excluded.reserved_fen",
        (stock_id, plan.day_key, value_fen),
    )
    connection.executemany(
        "INSERT INTO limits VALUES (?, ?, ?, ?, 1) ON CONFLICT DO UPDATE SET used = used + 1",
        plan.limit_keys,
    )
    if person_limited:  # the person is no field of the claim: kept for recounts
        connection.execute(
            "INSERT INTO claim_persons VALUES (?, ?, ?)",
            (coupon.coupon_id, stock_id, plan.person_id),
        )
    entry = LedgerEntry(
        stock_id, _M.CLAIM, value_fen, request.request_id, coupon.coupon_id, plan.now_s
    )
    _post(connection, stock_id, [entry], issued=1)
    return coupon


def _set_coupon(connection: sqlite3.Connection, coupon: Coupon) -> None:
    connection.execute(
        "UPDATE coupons SET state = ?, redemption_id = ? WHERE coupon_id = ?",
        (str(coupon.state), coupon.redemption_id, coupon.coupon_id),
    )


def _set_redemption(connection: sqlite3.Connection, redemption: Redemption) -> None:
    connection.execute(
        "INSERT OR REPLACE INTO redemptions VALUES (?, ?, ?)",
        (
            redemption.redemption_id,
            redemption.stock_id,
            codec.dumps(codec.redemption_to_obj(redemption)),
        ),
    )


def redeem(
    connection: sqlite3.Connection,
    request: RedemptionRequest,
    now_s: float,
    flagged: bool,
    reasons: tuple[str, ...],
    request_text: str,
    spec_of: SpecOf,
) -> RedemptionResult:
    coupon = coupon_of(connection, request.coupon_id)
    prior = prior_of(connection, coupon.stock_id, request.request_id, request_text)
    if prior is not None:
        return prior  # type: ignore[return-value]
    verdict = decide_redemption(spec_of(coupon.stock_id), coupon, request, now_s)
    if isinstance(verdict, Outcome):
        result = RedemptionResult(verdict, None, flagged, reasons)
    else:
        _set_coupon(connection, coupon.moved(CouponState.REDEEMED, verdict.redemption_id))
        _set_redemption(connection, verdict)
        rid, cid, at = request.request_id, coupon.coupon_id, verdict.redeemed_s
        unused = coupon.value_fen - verdict.discount_fen
        entries = [
            LedgerEntry(coupon.stock_id, _M.REDEEM, verdict.discount_fen, rid, cid, at),
            LedgerEntry(coupon.stock_id, _M.RELEASE_UNUSED, unused, rid, cid, at),
        ]
        _post(connection, coupon.stock_id, entries, redeemed=1)
        result = RedemptionResult(Outcome.OK, verdict, flagged, reasons)
    _save(connection, coupon.stock_id, request.request_id, request_text, result)
    return result


def refund(
    connection: sqlite3.Connection,
    request: RefundRequest,
    now_s: float,
    request_text: str,
    spec_of: SpecOf,
) -> RefundResult:
    redemption = redemption_of(connection, request.redemption_id)
    stock_id = redemption.stock_id
    prior = prior_of(connection, stock_id, request.request_id, request_text)
    if prior is not None:
        return prior  # type: ignore[return-value]
    coupon = coupon_of(connection, redemption.coupon_id)
    available = status_of(connection, stock_id).available_fen
    verdict = decide_refund(spec_of(stock_id), coupon, redemption, request, now_s, available)
    returned = verdict.outcome is Outcome.OK and verdict.redemption.returned
    if verdict.outcome is Outcome.OK:
        _set_redemption(connection, verdict.redemption)
        rid, cid = request.request_id, coupon.coupon_id
        entries = [LedgerEntry(stock_id, _M.CLAWBACK, verdict.clawback_fen, rid, cid, now_s)]
        if returned:
            _set_coupon(connection, coupon.moved(CouponState.ISSUED))
            entries.append(LedgerEntry(stock_id, _M.RETURN, verdict.return_fen, rid, cid, now_s))
            entries.append(
                LedgerEntry(stock_id, _M.RETURN_TOPUP, verdict.topup_fen, rid, cid, now_s)
            )
        _post(connection, stock_id, entries, redeemed=-1 if returned else 0)
    result = RefundResult(verdict.outcome, verdict.clawback_fen, returned, verdict.redemption)
    _save(connection, stock_id, request.request_id, request_text, result)
    return result


def expire(
    connection: sqlite3.Connection, request: ExpiryRequest, now_s: float, request_text: str
) -> ExpiryResult:
    """The replay check, then the clock check (:func:`~engine.decide.check_expiry`), then the
    expiry of every stock's due coupons."""
    prior = prior_of(connection, STORE_WIDE, request.request_id, request_text)
    if prior is not None:
        return prior  # type: ignore[return-value]
    check_expiry(request, now_s)
    rows = connection.execute(
        "SELECT coupon_id, stock_id, value_fen FROM coupons WHERE state = 'issued' "
        "AND valid_until_s <= ? ORDER BY valid_until_s, coupon_id",
        (request.until_s,),
    ).fetchall()
    by_stock: dict[str, list[LedgerEntry]] = {}
    for coupon_id, stock_id, value_fen in rows:
        entry = LedgerEntry(
            stock_id, _M.EXPIRE, value_fen, request.request_id, coupon_id, request.until_s
        )
        by_stock.setdefault(stock_id, []).append(entry)
    connection.executemany(
        "UPDATE coupons SET state = 'expired' WHERE coupon_id = ?", [(row[0],) for row in rows]
    )
    for stock_id, entries in by_stock.items():
        _post(connection, stock_id, entries, expired=len(entries))
    result = ExpiryResult(Outcome.OK, len(rows), sum(row[2] for row in rows))
    _save(connection, STORE_WIDE, request.request_id, request_text, result)
    return result


def adjust_budget(
    connection: sqlite3.Connection, request: BudgetAdjustment, now_s: float, request_text: str
) -> BudgetResult:
    prior = prior_of(connection, request.stock_id, request.request_id, request_text)
    if prior is not None:
        return prior  # type: ignore[return-value]
    status = status_of(connection, request.stock_id)
    outcome = decide_budget(status, request)
    budget = status.budget_fen
    if outcome is Outcome.OK:
        delta = request.new_budget_fen - budget
        movement = _M.FUND if delta > 0 else _M.DEFUND
        entry = LedgerEntry(request.stock_id, movement, abs(delta), request.request_id, "", now_s)
        _post(connection, request.stock_id, [entry])
        budget = request.new_budget_fen
    result = BudgetResult(outcome, budget)
    _save(connection, request.stock_id, request.request_id, request_text, result)
    return result
