"""Reads of the Redis store: a stock's counters, listings for invariant checks, the snapshot
that reconciliation replays (one script: ``records.lua``), and cleanup."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from engine.coupon import Coupon, CouponState
from engine.errors import UnknownStock
from engine.ledger import LedgerEntry, StockStatus
from engine.outcomes import ClaimResult
from engine.requests import ClaimRequest
from engine.rules import LimitKey
from engine.store import codec
from engine.store.base import StockRecords
from engine.store.redis_scripts import StockKeys

CHUNK = 1000  # coupons read per round trip


def status(client: Any, keys: StockKeys, stock_id: str) -> StockStatus:
    values = client.hmget(keys.counters, StockStatus._fields[1:])
    if values[0] is None:
        raise UnknownStock(stock_id)
    return StockStatus(stock_id, *(int(value) for value in values))


def issued(
    client: Any, keys: StockKeys, stock_id: str, count: int
) -> Iterator[tuple[ClaimRequest, Coupon, str]]:
    """(claim request, coupon as issued, state text) of coupons 1..``count``, in issue order
    (read ``CHUNK`` coupons per round trip: a listing, not a snapshot)."""
    for start in range(1, count + 1, CHUNK):
        ids = [f"{stock_id}.{seq}" for seq in range(start, min(count, start + CHUNK - 1) + 1)]
        request_ids = client.hmget(keys.coupon_requests, ids)
        records = client.hmget(keys.outcomes, request_ids)
        states = client.hmget(keys.coupon_states, ids)
        for record, state_text in zip(records, states, strict=True):
            request, coupon = _claim(record)
            yield request, coupon, state_text


def _claim(record: str) -> tuple[ClaimRequest, Coupon]:
    """The request and coupon of an issued claim's outcome record."""
    request_text, _, result_text = record.partition("\n")
    request = codec.decode_request(request_text)
    result = codec.decode_result(result_text)
    assert isinstance(request, ClaimRequest) and isinstance(result, ClaimResult)
    assert result.coupon is not None
    return request, result.coupon


def coupon_now(coupon: Coupon, state_text: str) -> Coupon:
    """``coupon`` as issued, in the state its state text names now."""
    state, _, _, redemption_id = state_text.split("|", 3)
    return coupon._replace(state=CouponState(state), redemption_id=redemption_id)


def ledger(client: Any, keys: StockKeys, stock_id: str) -> list[LedgerEntry]:
    return entries(stock_id, client.lrange(keys.ledger, 0, -1))


def entries(stock_id: str, items: Sequence[str]) -> list[LedgerEntry]:
    return [codec.entry_from_obj(stock_id, codec.loads(item)) for item in items]


def limit_usage(client: Any, limits_key: str, stock_id: str) -> dict[LimitKey, int]:
    """Every limit counter of a stock, by its key."""
    return limits(stock_id, client.hgetall(limits_key))


def limits(stock_id: str, fields: dict[str, str]) -> dict[LimitKey, int]:
    usage: dict[LimitKey, int] = {}
    for field, used in fields.items():
        index, subject, period = codec.loads(field)
        usage[(stock_id, index, subject, period)] = int(used)
    return usage


def daily(counts: dict[str, str]) -> dict[int, tuple[int, int]]:
    """Local day -> (issued, reserved fen) from the fields "i:<day>" and "r:<day>"."""
    days = {int(field[2:]) for field in counts}
    return {day: (int(counts.get(f"i:{day}", 0)), int(counts.get(f"r:{day}", 0))) for day in days}


def claim_persons(fields: dict[str, str]) -> dict[str, str]:
    """Coupon id -> person, from the person limit's field each claim kept."""
    return {cid: codec.loads(field)[1] for cid, field in fields.items()}


def records(stock_id: str, reply: list[Any]) -> StockRecords:
    """The snapshot from the reply of ``records.lua`` (see its header)."""
    if reply[0] == "unknown":
        raise UnknownStock(stock_id)
    _, counters, ledger_items, outcomes, states, limit_pairs, daily_pairs, persons = reply
    counts = _pairs(counters)
    claims = [_claim(record) for record in outcomes]
    return StockRecords(
        StockStatus(stock_id, *(int(counts[name]) for name in StockStatus._fields[1:])),
        tuple(entries(stock_id, ledger_items)),
        tuple([coupon_now(coupon, text) for (_, coupon), text in zip(claims, states, strict=True)]),
        tuple(claims),
        limits(stock_id, _pairs(limit_pairs)),
        daily(_pairs(daily_pairs)),
        claim_persons(_pairs(persons)),
    )


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    """A dict from an HGETALL reply as a script returns it (field, value, field, value, …)."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def delete_prefixed(client: Any, prefix: str) -> int:
    """Delete every key that starts with ``prefix``; returns how many."""
    doomed = list(client.scan_iter(match=_glob_escape(prefix) + "*", count=1000))
    for start in range(0, len(doomed), 500):
        client.delete(*doomed[start : start + 500])
    return len(doomed)


def _glob_escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)
