"""How durable stores write engine values down: requests, results, coupons, redemptions and
ledger entries as JSON text, and the effect of a ledger movement on a stock's accounts.

Contracts:

* ``decode_*(encode_*(x)) == x`` for every value (floats are written with ``repr``, which Python
  reads back exactly; money stays integer fen).
* :func:`encode_request` is canonical: two requests are equal (as the memory store compares them)
  exactly when their encodings are equal, so the text doubles as the request's fingerprint for
  idempotency. Numbers that a client may send as ``1`` or ``1.0`` are normalised first.
* The HTTP layer may reuse :func:`result_to_obj` / :func:`result_from_obj` for stored outcomes.
"""

from __future__ import annotations

import functools
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.coupon import Coupon, CouponState
from engine.ledger import MOVES, Account, LedgerEntry, Movement, StockStatus
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
    ClaimRequest,
    ExpiryRequest,
    OrderLine,
    RedemptionRequest,
    RefundRequest,
    StockCreation,
)
from engine.spec_io import stock_from_dict, stock_to_dict
from engine.store.base import Request, Result

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_DECODER = json.JSONDecoder()

# The stock column (or Redis hash field) each account lives in; funding is mirrored as -budget.
ACCOUNT_FIELD: dict[Account, str] = {
    Account.FUNDING: "budget_fen",
    Account.AVAILABLE: "available_fen",
    Account.RESERVED: "reserved_fen",
    Account.SPENT: "spent_fen",
}


def dumps(value: object) -> str:
    """Compact JSON, UTF-8 text, no NaN/Infinity."""
    return _ENCODER.encode(value)


text: Callable[[str], str] = json.encoder.encode_basestring  # a JSON string as dumps writes it


def number_text(value: object) -> str | None:
    """An int or a finite float as :func:`dumps` writes it; None for anything else."""
    kind = type(value)
    if kind is float:
        return float.__repr__(value) if math.isfinite(value) else None  # type: ignore[arg-type]
    if kind is int:
        return int.__repr__(value)
    return None


def loads(text: str | bytes) -> Any:
    return _DECODER.decode(text.decode() if isinstance(text, bytes) else text)


# -- requests ---------------------------------------------------------------------------------


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def request_to_obj(request: Request) -> dict[str, Any]:
    """A JSON-able dict of ``request`` with its kind, numbers normalised."""
    if isinstance(request, ClaimRequest):
        fields = request._replace(
            is_new_customer=bool(request.is_new_customer),
            account_created_s=_float_or_none(request.account_created_s),
        )._asdict()
        return {"kind": "claim", **fields}
    if isinstance(request, RedemptionRequest):
        fields = request._asdict()
        fields["lines"] = [list(line) for line in request.lines]
        return {"kind": "redemption", **fields}
    if isinstance(request, RefundRequest):
        return {"kind": "refund", **request._asdict()}
    if isinstance(request, ExpiryRequest):
        return {
            "kind": "expiry",
            "request_id": request.request_id,
            "until_s": float(request.until_s),
        }
    if isinstance(request, StockCreation):
        stock = _integral(stock_to_dict(request.spec))
        return {"kind": "create", "request_id": request.request_id, "stock": stock}
    return {"kind": "budget", **request._asdict()}


def _integral(value: Any) -> Any:
    """``value`` with every float that is a whole number written as an int, so equal stock
    definitions (``1`` or ``1.0``) have one fingerprint."""
    if type(value) is float and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def encode_request(request: Request) -> str:
    """Canonical JSON of ``request`` (its idempotency fingerprint)."""
    if type(request) is ClaimRequest:
        fast = _claim_request_text(request)
        if fast is not None:
            return fast
    return dumps(request_to_obj(request))


def _claim_request_text(request: ClaimRequest) -> str | None:
    """``dumps(request_to_obj(request))`` formatted directly (the hot path of every claim in a
    durable store, ~4x faster; a test holds them equal), or None when a field is not of the
    plain type that the format assumes (the generic encoder then decides, errors included)."""
    texts = request[:9]
    if not all(type(field) is str for field in texts):
        return None
    created = request.account_created_s
    created_text = "null" if created is None else number_text(float(created))
    if created_text is None:
        return None
    rid, sid, cid, device, phone, card, ip, id_hash, segment = map(text, texts)
    new = "true" if request.is_new_customer else "false"
    return (
        f'{{"kind":"claim","request_id":{rid},"stock_id":{sid},"customer_id":{cid},'
        f'"device_id":{device},"phone":{phone},"card":{card},"ip":{ip},"id_hash":{id_hash},'
        f'"segment":{segment},"is_new_customer":{new},"account_created_s":{created_text}}}'
    )


def decode_request(text: str | bytes) -> Request:
    obj = loads(text)
    kind = obj.pop("kind")
    if kind == "claim":
        return ClaimRequest(**obj)
    if kind == "redemption":
        obj["lines"] = tuple(OrderLine(*line) for line in obj["lines"])
        return RedemptionRequest(**obj)
    if kind == "refund":
        return RefundRequest(**obj)
    if kind == "expiry":
        return ExpiryRequest(**obj)
    if kind == "create":
        return StockCreation(obj["request_id"], stock_from_dict(obj["stock"], "stored stock"))
    return BudgetAdjustment(**obj)


# -- coupons and redemptions ------------------------------------------------------------------


def coupon_to_obj(coupon: Coupon) -> dict[str, Any]:
    obj = coupon._asdict()
    obj["state"] = str(coupon.state)
    return obj


def coupon_from_obj(obj: Mapping[str, Any]) -> Coupon:
    return Coupon(**{**obj, "state": CouponState(obj["state"])})


def redemption_to_obj(redemption: Redemption) -> dict[str, Any]:
    obj = redemption._asdict()
    obj["line_discounts"] = [list(pair) for pair in redemption.line_discounts]
    return obj


def redemption_from_obj(obj: Mapping[str, Any]) -> Redemption:
    pairs = tuple((str(line_id), int(fen)) for line_id, fen in obj["line_discounts"])
    return Redemption(**{**obj, "line_discounts": pairs})


def _maybe(obj: Any, decode: Any) -> Any:
    return None if obj is None else decode(obj)


# -- results ----------------------------------------------------------------------------------


def result_to_obj(result: Result) -> dict[str, Any]:
    """A JSON-able dict of ``result`` tagged with its type."""
    if isinstance(result, StockStatus):
        return status_to_obj(result)
    outcome = str(result.outcome)
    if isinstance(result, ClaimResult):
        coupon = _maybe(result.coupon, coupon_to_obj)
        return {
            "type": "claim",
            "outcome": outcome,
            "coupon": coupon,
            "flagged": result.flagged,
            "reasons": list(result.reasons),
        }
    if isinstance(result, RedemptionResult):
        redemption = _maybe(result.redemption, redemption_to_obj)
        return {
            "type": "redemption",
            "outcome": outcome,
            "redemption": redemption,
            "flagged": result.flagged,
            "reasons": list(result.reasons),
        }
    if isinstance(result, RefundResult):
        redemption = _maybe(result.redemption, redemption_to_obj)
        return {
            "type": "refund",
            "outcome": outcome,
            "clawed_back_fen": result.clawed_back_fen,
            "coupon_returned": result.coupon_returned,
            "redemption": redemption,
        }
    if isinstance(result, ExpiryResult):
        return {
            "type": "expiry",
            "outcome": outcome,
            "expired_coupons": result.expired_coupons,
            "released_fen": result.released_fen,
        }
    return {"type": "budget", "outcome": outcome, "budget_fen": result.budget_fen}


def status_to_obj(status: StockStatus) -> dict[str, Any]:
    """A stock's status, the result of a stock creation."""
    return {"type": "stock", **status._asdict()}


def result_from_obj(obj: Mapping[str, Any]) -> Result:
    if obj["type"] == "stock":
        return StockStatus(**{key: value for key, value in obj.items() if key != "type"})
    kind, outcome = obj["type"], Outcome(obj["outcome"])
    if kind == "claim":
        coupon = _maybe(obj["coupon"], coupon_from_obj)
        return ClaimResult(outcome, coupon, obj["flagged"], tuple(obj["reasons"]))
    if kind == "redemption":
        redemption = _maybe(obj["redemption"], redemption_from_obj)
        return RedemptionResult(outcome, redemption, obj["flagged"], tuple(obj["reasons"]))
    if kind == "refund":
        redemption = _maybe(obj["redemption"], redemption_from_obj)
        return RefundResult(outcome, obj["clawed_back_fen"], obj["coupon_returned"], redemption)
    if kind == "expiry":
        return ExpiryResult(outcome, obj["expired_coupons"], obj["released_fen"])
    return BudgetResult(outcome, obj["budget_fen"])


def encode_result(result: Result) -> str:
    if type(result) is ClaimResult:
        fast = _claim_result_text(result)
        if fast is not None:
            return fast
    return dumps(result_to_obj(result))


def _claim_result_text(result: ClaimResult) -> str | None:
    """``dumps(result_to_obj(result))`` formatted directly, or None when a value is not of the
    plain type the format assumes (see :func:`_claim_request_text`)."""
    outcome, coupon, flagged, reasons = result
    if type(outcome) is not Outcome or type(flagged) is not bool:
        return None
    if not all(type(reason) is str for reason in reasons):
        return None
    coupon_text = "null" if coupon is None else _coupon_text(coupon)
    if coupon_text is None:
        return None
    return claim_result_json(outcome._value_, coupon_text, flagged, ",".join(map(text, reasons)))


def _coupon_text(coupon: Coupon) -> str | None:
    cid, sid, customer, value_fen, claimed_s, valid_until_s, state, rid = coupon
    if not (type(cid) is str and type(sid) is str and type(customer) is str):
        return None
    if type(value_fen) is not int or type(state) is not CouponState or type(rid) is not str:
        return None
    claimed_text, valid_text = number_text(claimed_s), number_text(valid_until_s)
    if claimed_text is None or valid_text is None:
        return None
    return coupon_json(
        text(cid), sid, customer, int.__repr__(value_fen), claimed_text, valid_text, state, rid
    )


def coupon_json(
    coupon_id_text: str,
    stock_id: str,
    customer_id: str,
    value_text: str,
    claimed_text: str,
    valid_until_text: str,
    state: str,
    redemption_id: str,
) -> str:
    """A coupon's JSON as :func:`coupon_to_obj` + :func:`dumps` write it, from the JSON texts of
    its id and numbers (a store that fills holes passes texts with holes in them)."""
    return (
        f'{{"coupon_id":{coupon_id_text},"stock_id":{text(stock_id)},'
        f'"customer_id":{text(customer_id)},"value_fen":{value_text},"claimed_s":{claimed_text},'
        f'"valid_until_s":{valid_until_text},"state":{text(state)},'
        f'"redemption_id":{text(redemption_id)}}}'
    )


def claim_result_json(outcome: str, coupon_text: str, flagged: bool, reasons_text: str) -> str:
    """A claim result's JSON as :func:`result_to_obj` + :func:`dumps` write it, from the JSON of
    its coupon (or ``null``) and of its reasons (joined, without brackets)."""
    return (
        f'{{"type":"claim","outcome":{text(outcome)},"coupon":{coupon_text},'
        f'"flagged":{"true" if flagged else "false"},"reasons":[{reasons_text}]}}'
    )


def decode_result(text: str | bytes) -> Result:
    return result_from_obj(loads(text))


# -- ledger -----------------------------------------------------------------------------------


def entry_to_obj(entry: LedgerEntry) -> list[Any]:
    """``[movement, amount_fen, request_id, coupon_id, at_s]`` (the stock is implied)."""
    return [str(entry.movement), entry.amount_fen, entry.request_id, entry.coupon_id, entry.at_s]


def entry_from_obj(stock_id: str, obj: Sequence[Any]) -> LedgerEntry:
    movement, amount_fen, request_id, coupon_id, at_s = obj
    return LedgerEntry(stock_id, Movement(movement), amount_fen, request_id, coupon_id, at_s)


def account_deltas(entries: Sequence[LedgerEntry]) -> dict[str, int]:
    """The change of each stock field (``budget_fen``, ``available_fen``, …) that ``entries``
    make; funding leaving is budget arriving, so the funding side moves ``budget_fen`` inversely."""
    deltas = dict.fromkeys(ACCOUNT_FIELD.values(), 0)
    for entry in entries:
        source, target = MOVES[entry.movement]
        sign_source = 1 if source is Account.FUNDING else -1
        sign_target = -1 if target is Account.FUNDING else 1
        deltas[ACCOUNT_FIELD[source]] += sign_source * entry.amount_fen
        deltas[ACCOUNT_FIELD[target]] += sign_target * entry.amount_fen
    return deltas


# -- templates for values completed inside an atomic step -------------------------------------

SEQ_HOLE, CUSTOMER_HOLE, VALUE_HOLE, CLAIMED_HOLE, VALID_HOLE, WORD_HOLE = (
    f"@hole-{uuid.uuid4().hex}@" for _ in range(6)
)


@functools.lru_cache(maxsize=1024)
def issued_claim_template(
    stock_id: str, flagged: bool, reasons: tuple[str, ...]
) -> tuple[str, ...]:
    """The stored text of an issued claim's result, cut around (in order) the coupon's sequence
    number, customer id, value, claimed_s and valid_until_s: six pieces. Joined around
    ``seq``, ``json_text(customer_id)``, ``json_text(value_fen)``, … it is exactly
    ``encode_result`` of that result (a test holds them equal); the sequence number goes
    inside the coupon id's string, the others are JSON values."""
    holes: Any = (CUSTOMER_HOLE, VALUE_HOLE, CLAIMED_HOLE, VALID_HOLE)  # strings for numbers
    coupon = Coupon(f"{stock_id}.{SEQ_HOLE}", stock_id, *holes)
    text = encode_result(ClaimResult(Outcome.OK, coupon, flagged, reasons))
    return tuple(split_template(text, (SEQ_HOLE, *(f'"{hole}"' for hole in holes))))


@functools.lru_cache(maxsize=1024)
def refused_claim_text(outcome: Outcome, flagged: bool, reasons: tuple[str, ...]) -> str:
    """``encode_result`` of a claim refused with ``outcome`` (the same text every time)."""
    return encode_result(ClaimResult(outcome, None, flagged, reasons))


def json_text(value: object) -> str:
    """``dumps(value)``, quicker for the plain strings and numbers of the hot path."""
    if type(value) is str:
        return text(value)
    number = number_text(value)
    return dumps(value) if number is None else number


def split_template(text: str, holes: Sequence[str]) -> list[str]:
    """Split ``text`` at each hole, in order: ``len(holes) + 1`` pieces. A store that learns the
    hole values only inside its atomic step (a Redis script) joins the pieces around them."""
    pieces = []
    for hole in holes:
        head, found, text = text.partition(hole)
        if not found:
            raise ValueError(f"template hole {hole!r} missing or out of order")
        pieces.append(head)
    pieces.append(text)
    return pieces


def new_hole() -> str:
    """A marker that cannot occur in any real value (a fresh random token)."""
    return f"@hole-{uuid.uuid4().hex}@"
