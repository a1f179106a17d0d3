"""The Redis store's connection, stock creation and request outcomes (idempotency).

Request ids are scoped per stock (:func:`engine.store.base.scope_of`): a request's outcome lives
in its stock's ``outcomes`` hash, in the stock's Cluster slot, so each script checks it
atomically with the stock's counters. A refund's stock is its redemption's (the store-wide
redemption → stock index); an expiry's outcome is store-wide. :class:`RedisStore`
(:mod:`engine.store.redis`) adds the operations and reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from engine.errors import (
    DuplicateStock,
    InvariantBroken,
    RequestConflict,
    StoreUnavailable,
    UnknownStock,
)
from engine.ledger import LedgerEntry, Movement, StockStatus
from engine.requests import ClaimRequest, RefundRequest, StockCreation
from engine.spec_io import stock_from_dict, stock_to_dict
from engine.stock import StockSpec
from engine.store import codec, redis_reads
from engine.store.base import STORE_WIDE, Request, Result, scope_of, unknown_scope
from engine.store.redis_async import AsyncScripts
from engine.store.redis_scripts import StockKeys, load_scripts, stock_keys, store_keys


class RedisBase:
    """A connection to one store's keys (``prefix``) with its scripts; creation and outcomes."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "couponlab:",
        max_retries: int = 100,
        early_replay_reads: bool = True,
    ) -> None:
        try:
            self._redis: Any = redis.Redis.from_url(url, decode_responses=True)
            self._redis.ping()
        except (redis.RedisError, ValueError) as error:
            raise StoreUnavailable(f"cannot reach Redis at {url}: {error}") from error
        self.url, self.prefix, self._max_retries = url, prefix, max_retries
        self._early_replay_reads = early_replay_reads
        self._scripts = load_scripts(self._redis)
        self._global = store_keys(prefix)
        self._specs: dict[str, StockSpec] = {}
        self._async: AsyncScripts | None = None
        self._claim_keys: dict[str, tuple[str, ...]] = {}

    def _keys(self, stock_id: str) -> StockKeys:
        return stock_keys(self.prefix, stock_id)

    def _run(self, name: str, keys: Sequence[str], args: Sequence[object]) -> list[str]:
        try:
            reply: list[str] = self._scripts[name](keys=list(keys), args=list(args))
        except redis.ResponseError as error:
            raise InvariantBroken(f"Redis script {name} failed: {error}") from error
        except redis.RedisError as error:
            raise StoreUnavailable(f"Redis script {name} failed: {error}") from error
        return reply

    def _result(self, request: Request, reply: list[str]) -> Result:
        if reply[0] == "conflict":
            raise RequestConflict(request.request_id)
        if reply[0] == "unknown":
            raise UnknownStock(getattr(request, "stock_id", ""))
        return codec.decode_result(reply[1])

    # -- stocks -----------------------------------------------------------------------------

    def create_stock(self, spec: StockSpec, request_id: str, now_s: float) -> StockStatus:
        """See :meth:`Store.create_stock`; the request id lives in the stock's outcomes."""
        request = StockCreation(request_id, spec)
        stock_id = spec.stock_id
        keys = self._keys(stock_id)
        fund = LedgerEntry(stock_id, Movement.FUND, spec.budget_fen, request_id, "", now_s)
        created = StockStatus(stock_id, spec.budget_fen, spec.budget_fen, 0, 0, 0, 0, 0)
        args = (
            codec.dumps(stock_to_dict(spec)),
            spec.quota,
            spec.budget_fen,
            codec.dumps(codec.entry_to_obj(fund)),
            request_id,
            codec.encode_request(request),
            codec.encode_result(created),
        )
        reply = self._run("create", (keys.counters, keys.spec, keys.ledger, keys.outcomes), args)
        if reply[0] == "exists":
            if self._decode_spec(stock_id, reply[1]) != spec:
                raise DuplicateStock(stock_id)
            status = self.record(request, redis_reads.status(self._redis, keys, stock_id))
        else:
            status = self._result(request, reply)
        self._redis.sadd(self._global.stocks, stock_id)
        self._specs.setdefault(stock_id, spec)
        return status  # type: ignore[return-value]

    @staticmethod
    def _decode_spec(stock_id: str, text: str) -> StockSpec:
        return stock_from_dict(codec.loads(text), f"stored stock {stock_id}")

    def spec(self, stock_id: str) -> StockSpec:
        spec = self._specs.get(stock_id)
        if spec is None:
            text = self._redis.get(self._keys(stock_id).spec)
            if text is None:
                raise UnknownStock(stock_id)
            spec = self._specs[stock_id] = self._decode_spec(stock_id, text)
        return spec

    # -- idempotency ------------------------------------------------------------------------

    def _outcomes_key(self, request: Request) -> str | None:
        """Where ``request``'s outcome lives (its scope's outcomes), or None if it names no
        coupon or redemption (then it has no outcome)."""
        if isinstance(request, RefundRequest):
            scope = self._redis.hget(self._global.redemption_stock, request.redemption_id)
        else:
            scope = scope_of(request)
        if scope is None:
            return None
        return self._global.outcomes if scope == STORE_WIDE else self._keys(scope).outcomes

    def prior(self, request: Request) -> Result | None:
        if not self._early_replay_reads and isinstance(request, ClaimRequest):
            return None  # claim.lua finds it
        key = self._outcomes_key(request)
        return None if key is None else self._first(key, request)

    def _first(self, key: str, request: Request) -> Result | None:
        """The first outcome of ``request``'s id in the outcomes hash ``key``."""
        record = self._redis.hget(key, request.request_id)
        if record is None:
            return None
        request_text, _, result_text = record.partition("\n")
        if request_text != codec.encode_request(request):
            raise RequestConflict(request.request_id)
        return codec.decode_result(result_text)

    def record(self, request: Request, result: Result) -> Result:
        key = self._outcomes_key(request)
        if key is None:
            raise unknown_scope(request)
        args = (request.request_id, codec.encode_request(request), codec.encode_result(result))
        return self._result(request, self._run("record", (key,), args))
