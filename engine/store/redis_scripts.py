"""Key layout and Lua scripts of the Redis store.

Every key of a stock carries the hash tag ``{stock_id}``, so a whole stock lives in one Redis
Cluster slot and each script touches one slot only. Request ids are therefore scoped per stock:
a request's outcome lives in its stock's ``outcomes`` (:func:`engine.store.base.scope_of`).
Three keys are per store, not per stock: the set of stock ids, the redemption → stock index and
the outcomes of expiry requests (which span stocks; each stock keeps its part of one in
``expiries``); they are written after the per-stock script, idempotently.

Scripts live in ``engine/store/lua/``; each is prefixed with ``common.lua`` (idempotency helpers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

_LUA = Path(__file__).parent / "lua"
SCRIPTS = ("create", "record", "claim", "coupon", "apply", "expire", "budget", "records")


class StockKeys(NamedTuple):
    """The Redis keys of one stock (all in the slot of ``{stock_id}``)."""

    counters: str  # hash: quota, budget_fen, available_fen, reserved_fen, spent_fen, issued, …
    spec: str  # string: the stock in the engine.spec_io format, as JSON
    daily: str  # hash: "i:<day>" coupons issued, "r:<day>" fen reserved that day
    limits: str  # hash: JSON [limit index, subject, period key] -> used
    outcomes: str  # hash: request id -> "<request json>\n<result json>"
    coupon_requests: str  # hash: coupon id -> request id of its claim
    coupon_states: str  # hash: coupon id -> "state|version|value_fen|redemption_id"
    expiry: str  # zset: coupon id scored by valid_until_s
    ledger: str  # list: ledger entries as JSON [movement, amount_fen, request, coupon, at_s]
    redemptions: str  # hash: redemption id -> redemption JSON
    persons: str  # hash: coupon id -> its person limit's field (person-limited stocks)
    expiries: str  # hash: expiry request id -> "<request json>\n<this stock's part>"


def stock_keys(prefix: str, stock_id: str) -> StockKeys:
    base = f"{prefix}{{{stock_id}}}:"
    return StockKeys(*(base + name for name in StockKeys._fields))


def claim_keys(keys: StockKeys) -> tuple[str, ...]:
    """KEYS of ``claim.lua``."""
    return (
        keys.counters,
        keys.daily,
        keys.limits,
        keys.outcomes,
        keys.coupon_requests,
        keys.coupon_states,
        keys.expiry,
        keys.ledger,
        keys.persons,
    )


class StoreKeys(NamedTuple):
    """Keys of one store instance that are not per stock."""

    stocks: str  # set of stock ids
    redemption_stock: str  # hash: redemption id -> stock id
    outcomes: str  # hash: expiry request id -> "<request json>\n<result json>"


def records_keys(keys: StockKeys) -> tuple[str, ...]:
    """KEYS of ``records.lua``."""
    return (
        keys.counters,
        keys.ledger,
        keys.coupon_requests,
        keys.outcomes,
        keys.coupon_states,
        keys.limits,
        keys.daily,
        keys.persons,
    )


def store_keys(prefix: str) -> StoreKeys:
    return StoreKeys(f"{prefix}stocks", f"{prefix}redemption-stock", f"{prefix}outcomes")


def script_sources() -> dict[str, str]:
    """Every script's text by name, ``common.lua`` prepended."""
    common = (_LUA / "common.lua").read_text()
    return {name: common + "\n" + (_LUA / f"{name}.lua").read_text() for name in SCRIPTS}


def load_scripts(client: Any) -> dict[str, Any]:
    """Register every script with ``client`` (EVALSHA, loaded on first use)."""
    return {name: client.register_script(text) for name, text in script_sources().items()}
