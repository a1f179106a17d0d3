"""Arguments of the Redis store's scripts, built from the engine's values (pure functions).

Where a result depends on what only a script knows (a claim's coupon sequence number and
value, a budget adjustment's outcome), the JSON text is encoded here around *holes* and cut
there (:func:`engine.store.codec.split_template`); the script joins the pieces around the
values it decided. So every stored result is encoded by :mod:`engine.store.codec`, and Lua never
formats a float.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from engine.coupon import Coupon, CouponState
from engine.decide import ClaimPlan, RefundVerdict
from engine.ledger import LedgerEntry, Movement
from engine.outcomes import (
    BudgetResult,
    ClaimResult,
    Outcome,
    Redemption,
    RedemptionResult,
    RefundResult,
)
from engine.requests import BudgetAdjustment, RedemptionRequest, RefundRequest
from engine.rules import LimitKey, StockRules
from engine.store import codec
from engine.store.base import Result

_M = Movement
SEQ, VALUE, WORD, CLAIMED, REQUEST = (codec.new_hole() for _ in range(5))
# Holes where a JSON value goes appear as JSON strings: the quotes go with them.
_NUMBER, _CLAIMED, _REQUEST = (f'"{hole}"' for hole in (VALUE, CLAIMED, REQUEST))
_ENTRY_HOLES = (_NUMBER, _REQUEST, SEQ, _CLAIMED)


@functools.lru_cache(maxsize=1024)
def claim_stock_args(
    rules: StockRules, flagged: bool, reasons: tuple[str, ...]
) -> tuple[object, ...]:
    """ARGV 1.. of ``claim.lua``: what every claim of the stock with this risk verdict shares
    (see its header): the limits, and the stored texts cut around the holes that each claim
    fills. Cached: the same for every claim without risk reasons."""
    spec = rules.spec
    stock_id = spec.stock_id
    refused = codec.encode_result(ClaimResult(WORD, None, flagged, reasons))  # type: ignore[arg-type]
    hole_id = f"{stock_id}.{SEQ}"
    entry = LedgerEntry(stock_id, _M.CLAIM, VALUE, REQUEST, hole_id, CLAIMED)  # type: ignore[arg-type]
    return (
        spec.quota,
        "" if spec.daily_quota is None else spec.daily_quota,
        "" if spec.daily_budget_fen is None else spec.daily_budget_fen,
        f"{stock_id}.",
        *codec.issued_claim_template(stock_id, flagged, reasons),
        *codec.split_template(refused, (WORD,)),
        *codec.split_template(codec.dumps(codec.entry_to_obj(entry)), _ENTRY_HOLES),
        len(rules.limit_counts),
        *rules.limit_counts,
        rules.person_limit_index + 1,  # 1 + the person limit's index, 0: none (ARGV 19+L)
    )


def claim_fields(plan: ClaimPlan) -> list[object]:
    """The fields of one claim in the ARGV of ``claim.lua`` (see its header): the values of
    the holes as JSON, encoded by :mod:`engine.store.codec`."""
    request = plan.request
    fields: list[object] = [
        request.request_id,
        codec.encode_request(request),
        plan.value_fen,
        plan.min_value_fen,
        plan.day_key,
        codec.json_text(plan.valid_until_s),
        codec.json_text(request.customer_id),
        codec.json_text(plan.now_s),
        codec.json_text(request.request_id),
    ]
    if plan.limit_keys:
        fields += [_limit_field(key) for key in plan.limit_keys]
    return fields


def _limit_field(key: LimitKey) -> str:
    """The Redis hash field of a limit counter: JSON ``[limit index, subject, period key]``."""
    _, index, subject, period = key
    if type(index) is int and type(subject) is str and type(period) is int:
        return f"[{index},{codec.text(subject)},{period}]"
    return codec.dumps(key[1:])


def budget_args(request: BudgetAdjustment, now_s: float) -> list[object]:
    """ARGV of ``budget.lua``."""
    result = codec.encode_result(BudgetResult(WORD, VALUE))  # type: ignore[arg-type]
    entry = LedgerEntry(request.stock_id, WORD, VALUE, request.request_id, "", now_s)  # type: ignore[arg-type]
    return [
        request.request_id,
        codec.encode_request(request),
        request.expected_budget_fen,
        request.new_budget_fen,
        *codec.split_template(result, (WORD, _NUMBER)),
        *codec.split_template(codec.dumps(codec.entry_to_obj(entry)), (WORD, _NUMBER)),
    ]


def next_state(state_text: str, coupon: Coupon) -> str:
    """The state text of ``coupon`` one version after ``state_text``."""
    version = int(state_text.split("|", 2)[1]) + 1
    return f"{coupon.state}|{version}|{coupon.value_fen}|{coupon.redemption_id}"


def deltas(entries: Sequence[LedgerEntry]) -> tuple[int, int, int]:
    """Changes of (available, reserved, spent) that ``entries`` make."""
    moved = codec.account_deltas(entries)
    return moved["available_fen"], moved["reserved_fen"], moved["spent_fen"]


def entries(items: Sequence[LedgerEntry]) -> list[str]:
    """Ledger entries as stored (movements of 0 fen are not entries)."""
    return [codec.dumps(codec.entry_to_obj(e)) for e in items if e.amount_fen]


def redeem_args(
    coupon: Coupon,
    state_text: str,
    verdict: Redemption | Outcome,
    request: RedemptionRequest,
    flagged: bool,
    reasons: tuple[str, ...],
) -> tuple[Result, list[object]]:
    """The result and ARGV 4.. of ``apply.lua`` for a redemption decided on ``state_text``."""
    cid = coupon.coupon_id
    if isinstance(verdict, Outcome):
        rejected = RedemptionResult(verdict, None, flagged, reasons)
        return rejected, [cid, state_text, "", "", "", "", 0, 0, 0, 0, ""]
    redeemed = coupon.moved(CouponState.REDEEMED, verdict.redemption_id)
    rid, at = request.request_id, verdict.redeemed_s
    unused = coupon.value_fen - verdict.discount_fen
    moves = [
        LedgerEntry(coupon.stock_id, _M.REDEEM, verdict.discount_fen, rid, cid, at),
        LedgerEntry(coupon.stock_id, _M.RELEASE_UNUSED, unused, rid, cid, at),
    ]
    redemption_text = codec.dumps(codec.redemption_to_obj(verdict))
    args: list[object] = [cid, state_text, next_state(state_text, redeemed), verdict.redemption_id]
    args += ["", redemption_text, *deltas(moves), 1, "", *entries(moves)]
    return RedemptionResult(Outcome.OK, verdict, flagged, reasons), args


def refund_args(
    coupon: Coupon,
    state_text: str,
    redemption_text: str,
    verdict: RefundVerdict,
    request: RefundRequest,
    now_s: float,
) -> tuple[RefundResult, list[object]]:
    """The result and ARGV 4.. of ``apply.lua`` for a refund decided on ``state_text`` and
    ``redemption_text`` (both compared-and-set by the script)."""
    returned = verdict.outcome is Outcome.OK and verdict.redemption.returned
    result = RefundResult(verdict.outcome, verdict.clawback_fen, returned, verdict.redemption)
    redemption_id = verdict.redemption.redemption_id
    args: list[object] = [coupon.coupon_id, state_text, "", redemption_id, redemption_text, ""]
    if verdict.outcome is not Outcome.OK:
        return result, [*args, 0, 0, 0, 0, ""]
    rid, cid, sid = request.request_id, coupon.coupon_id, coupon.stock_id
    moves = [LedgerEntry(sid, _M.CLAWBACK, verdict.clawback_fen, rid, cid, now_s)]
    if returned:
        args[2] = next_state(state_text, coupon.moved(CouponState.ISSUED))
        moves.append(LedgerEntry(sid, _M.RETURN, verdict.return_fen, rid, cid, now_s))
        moves.append(LedgerEntry(sid, _M.RETURN_TOPUP, verdict.topup_fen, rid, cid, now_s))
    args[5] = codec.dumps(codec.redemption_to_obj(verdict.redemption))
    score = repr(float(coupon.valid_until_s)) if returned else ""
    return result, [*args, *deltas(moves), -1 if returned else 0, score, *entries(moves)]


def claim_result(
    plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...], reply: Sequence[str]
) -> ClaimResult | None:
    """The result of a claim that ``claim.lua`` issued (``['issued', seq, value]``) or refused
    (``['refused', outcome]``), built from what Python knows and the script decided: equal to
    decoding the text the script stored (the same values went into its holes). None for any
    other reply (a replay, a conflict, an unknown stock)."""
    kind = reply[0]
    if kind == "issued":
        request = plan.request
        stock_id = request.stock_id
        coupon = Coupon(
            f"{stock_id}.{reply[1]}",
            stock_id,
            request.customer_id,
            int(reply[2]),
            plan.now_s,
            plan.valid_until_s,
        )
        return ClaimResult(Outcome.OK, coupon, flagged, reasons)
    if kind == "refused":
        return ClaimResult(Outcome(reply[1]), None, flagged, reasons)
    return None
