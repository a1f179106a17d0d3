"""The shared Redis store: several server processes (or machines) share one stock.

Atomicity comes from Lua: each operation is one script that checks every counter it depends on
(idempotency, quota, daily quota, budget, daily budget, every subject limit) before its first
write. What needs no shared state happens in Python first: the window and eligibility screen and
the random draw (:func:`engine.decide.screen_claim`); the claim script then mirrors
:func:`engine.decide.admit_claim` check for check, for one claim or several of one stock in
order (:meth:`RedisStore.claim_async` batches concurrent claims: :mod:`engine.store.redis_async`).
A redemption or refund is decided in Python
with :func:`~engine.decide.decide_redemption` / :func:`~engine.decide.decide_refund` on a read
of the coupon, and applied by a script that compares-and-sets the coupon state (and the
redemption) it was decided on; on a lost race the read and decision are simply redone. So two
concurrent redemptions of one coupon cannot both win.

Results are encoded by :mod:`engine.store.codec`. Where a result depends on what only the script
knows (the coupon's sequence number and value), Python passes the JSON text cut around those
holes and the script joins it, so Lua never formats a float.

Request ids are scoped per stock (the outcome lives in the stock's slot,
:func:`engine.store.base.scope_of`); expiry requests, which span stocks, have their own
store-wide outcomes. :meth:`RedisStore.records` reads a stock's records in one script.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from engine.coupon import Coupon
from engine.decide import (
    ClaimPlan,
    check_expiry,
    check_order,
    decide_budget,
    decide_redemption,
    decide_refund,
)
from engine.errors import (
    RequestConflict,
    StoreUnavailable,
    UnknownCoupon,
    UnknownRedemption,
)
from engine.ledger import LedgerEntry, StockStatus
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
    RedemptionRequest,
    RefundRequest,
)
from engine.rules import LimitKey, StockRules
from engine.store import codec, redis_args, redis_reads
from engine.store.base import Request, Result, StockRecords
from engine.store.redis_async import AsyncScripts
from engine.store.redis_base import RedisBase
from engine.store.redis_scripts import (
    StockKeys,
    claim_keys,
    records_keys,
    script_sources,
)

__all__ = ["RedisStore"]


class RedisStore(RedisBase):
    """A :class:`~engine.store.base.Store` in Redis at ``redis://HOST:PORT/DB``.

    ``prefix`` namespaces every key of this store (tests use a unique one and delete it);
    ``max_retries`` bounds how often a redemption or refund redoes a decision that lost a race;
    ``early_replay_reads=False`` makes :meth:`prior` answer None for a claim without a round
    trip: ``claim.lua`` and ``record.lua`` find a replay anyway (see
    :class:`~engine.store.sqlite.SqliteStore`). The connection, stock creation and request
    outcomes are :class:`~engine.store.redis_base.RedisBase`'s.
    """

    # -- claim ------------------------------------------------------------------------------

    def claim(
        self, rules: StockRules, plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...]
    ) -> ClaimResult:
        args = [*redis_args.claim_stock_args(rules, flagged, reasons)]
        args += redis_args.claim_fields(plan)
        reply = self._run("claim", self._claim_keys_of(rules.stock_id), args)
        return self._claimed(plan, flagged, reasons, reply[0])  # type: ignore[arg-type]

    def _claim_keys_of(self, stock_id: str) -> tuple[str, ...]:
        keys = self._claim_keys.get(stock_id)
        if keys is None:
            keys = self._claim_keys[stock_id] = claim_keys(self._keys(stock_id))
        return keys

    def _claimed(
        self, plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...], reply: list[str]
    ) -> ClaimResult:
        result = redis_args.claim_result(plan, flagged, reasons, reply)
        return self._result(plan.request, reply) if result is None else result  # type: ignore[return-value]

    # -- from an event loop -----------------------------------------------------------------

    async def claim_async(
        self, rules: StockRules, plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...]
    ) -> ClaimResult:
        """:meth:`claim` for a caller on an event loop; concurrent claims of one stock share
        script calls (see :mod:`engine.store.redis_async`)."""
        stock_id = rules.stock_id
        reply = await self._scripts_async().claim(
            (stock_id, flagged, reasons),
            self._claim_keys_of(stock_id),
            redis_args.claim_stock_args(rules, flagged, reasons),
            redis_args.claim_fields(plan),
        )
        return self._claimed(plan, flagged, reasons, reply)

    async def record_async(self, request: ClaimRequest, result: ClaimResult) -> ClaimResult:
        """:meth:`record` of a claim's outcome, for a caller on an event loop."""
        args = (request.request_id, codec.encode_request(request), codec.encode_result(result))
        keys = (self._keys(request.stock_id).outcomes,)
        reply = await self._scripts_async().run("record", keys, args)
        return self._result(request, reply)  # type: ignore[return-value]

    def _scripts_async(self) -> AsyncScripts:
        """The scripts over redis.asyncio for the running loop (made on first use per loop)."""
        scripts = self._async
        if scripts is None or scripts.loop is not asyncio.get_running_loop():
            scripts = self._async = AsyncScripts(self.url, script_sources())
        return scripts

    async def aclose(self) -> None:
        """Close the event loop's connections (before :meth:`close`, on that loop)."""
        if self._async is not None and self._async.loop is asyncio.get_running_loop():
            await self._async.aclose()
        self._async = None

    # -- redemption and refund --------------------------------------------------------------

    def _coupon_state(self, coupon_id: str) -> tuple[Coupon, str]:
        """The coupon and its state text (version included), read in one atomic step."""
        stock_id = coupon_id.rpartition(".")[0]
        if not stock_id:
            raise UnknownCoupon(coupon_id)
        keys = self._keys(stock_id)
        reply = self._run(
            "coupon", (keys.coupon_states, keys.coupon_requests, keys.outcomes), (coupon_id,)
        )
        if not reply:
            raise UnknownCoupon(coupon_id)
        state_text, record = reply
        result = codec.decode_result(record.partition("\n")[2])
        assert isinstance(result, ClaimResult) and result.coupon is not None
        return redis_reads.coupon_now(result.coupon, state_text), state_text

    def _apply(
        self, keys: StockKeys, request: Request, result: Result, args: list[object]
    ) -> Result | None:
        """Run the compare-and-set script; None when the decision must be redone."""
        all_keys = (
            keys.counters,
            keys.outcomes,
            keys.coupon_states,
            keys.redemptions,
            keys.ledger,
            keys.expiry,
        )
        text = codec.encode_request(request)
        reply = self._run(
            "apply", all_keys, [request.request_id, text, codec.encode_result(result), *args]
        )
        return None if reply[0] == "retry" else self._result(request, reply)

    def redeem(
        self, request: RedemptionRequest, now_s: float, flagged: bool, reasons: tuple[str, ...]
    ) -> RedemptionResult:
        check_order(request)
        for _ in range(self._max_retries):
            prior = self.prior(request)
            if prior is not None:
                return self._index(prior)  # type: ignore[return-value]
            coupon, state_text = self._coupon_state(request.coupon_id)
            verdict = decide_redemption(self.spec(coupon.stock_id), coupon, request, now_s)
            if isinstance(verdict, Redemption):  # indexed first: a crash after the script
                self._index_redemption(verdict)  # must not leave a redemption refunds can't find
            applied = self._apply(
                self._keys(coupon.stock_id),
                request,
                *redis_args.redeem_args(coupon, state_text, verdict, request, flagged, reasons),
            )
            if applied is not None:
                return applied  # type: ignore[return-value]
        raise StoreUnavailable(f"coupon {request.coupon_id}: too many concurrent changes")

    def _index(self, result: Result) -> Result:
        """``result``, after indexing the redemption it holds (heals an index lost earlier)."""
        if isinstance(result, RedemptionResult) and result.redemption is not None:
            self._index_redemption(result.redemption)
        return result

    def _index_redemption(self, redemption: Redemption) -> None:
        """Remember which stock a redemption belongs to (refunds name only the redemption).

        Idempotent; an entry whose redemption lost its race points at a stock that has no such
        redemption, which reads as unknown, like no entry at all."""
        self._redis.hset(
            self._global.redemption_stock, redemption.redemption_id, redemption.stock_id
        )

    def refund(self, request: RefundRequest, now_s: float) -> RefundResult:
        for _ in range(self._max_retries):
            prior = self.prior(request)
            if prior is not None:
                return prior  # type: ignore[return-value]
            redemption, redemption_text = self._redemption_text(request.redemption_id)
            coupon, state_text = self._coupon_state(redemption.coupon_id)
            keys = self._keys(coupon.stock_id)
            available = int(self._redis.hget(keys.counters, "available_fen") or 0)
            spec = self.spec(coupon.stock_id)
            verdict = decide_refund(spec, coupon, redemption, request, now_s, available)
            result, args = redis_args.refund_args(
                coupon, state_text, redemption_text, verdict, request, now_s
            )
            applied = self._apply(keys, request, result, args)
            if applied is not None:
                return applied  # type: ignore[return-value]
        raise StoreUnavailable(f"redemption {request.redemption_id}: too many concurrent changes")

    def _redemption_text(self, redemption_id: str) -> tuple[Redemption, str]:
        stock_id = self._redis.hget(self._global.redemption_stock, redemption_id)
        text = (
            None
            if stock_id is None
            else self._redis.hget(self._keys(stock_id).redemptions, redemption_id)
        )
        if text is None:
            raise UnknownRedemption(redemption_id)
        return codec.redemption_from_obj(codec.loads(text)), text

    # -- expiry and budget ------------------------------------------------------------------

    def expire(self, request: ExpiryRequest, now_s: float) -> ExpiryResult:
        """The store-wide replay check, the clock check, then one script per stock (each
        idempotent: a stock keeps its part of the expiry under the request id), then the
        total recorded store-wide (the first total recorded is every replay's answer)."""
        prior = self._first(self._global.outcomes, request)
        if prior is not None:
            return prior  # type: ignore[return-value]
        check_expiry(request, now_s)
        text = codec.encode_request(request)
        until = repr(float(request.until_s))
        count = released = 0
        for stock_id in self.stock_ids():
            keys = self._keys(stock_id)
            script_keys = (
                keys.counters,
                keys.expiries,
                keys.coupon_states,
                keys.expiry,
                keys.ledger,
            )
            args = (request.request_id, text, until, codec.dumps(request.request_id), until)
            reply = self._run("expire", script_keys, args)
            if reply[0] == "conflict":
                raise RequestConflict(request.request_id)
            part = codec.loads(reply[1])
            count += part["expired_coupons"]
            released += part["released_fen"]
        result = ExpiryResult(Outcome.OK, count, released)
        first = self._run(
            "record",
            (self._global.outcomes,),
            (request.request_id, text, codec.encode_result(result)),
        )
        return self._result(request, first)  # type: ignore[return-value]

    def adjust_budget(self, request: BudgetAdjustment, now_s: float) -> BudgetResult:
        prior = self.prior(request)
        if prior is not None:
            return prior  # type: ignore[return-value]
        decide_budget(self.status(request.stock_id), request)  # validates; the script decides
        keys = self._keys(request.stock_id)
        args = redis_args.budget_args(request, now_s)
        reply = self._run("budget", (keys.counters, keys.outcomes, keys.ledger), args)
        return self._result(request, reply)  # type: ignore[return-value]

    # -- reads ------------------------------------------------------------------------------

    def status(self, stock_id: str) -> StockStatus:
        return redis_reads.status(self._redis, self._keys(stock_id), stock_id)

    def coupon(self, coupon_id: str) -> Coupon:
        return self._coupon_state(coupon_id)[0]

    def redemption(self, redemption_id: str) -> Redemption:
        return self._redemption_text(redemption_id)[0]

    def _claims(self, stock_id: str) -> Iterator[tuple[ClaimRequest, Coupon, str]]:
        """(claim request, coupon as issued, state text) for every coupon, in issue order."""
        issued = self.status(stock_id).issued
        return redis_reads.issued(self._redis, self._keys(stock_id), stock_id, issued)

    def coupons(self, stock_id: str) -> Iterator[Coupon]:
        for _, coupon, state_text in self._claims(stock_id):
            yield redis_reads.coupon_now(coupon, state_text)

    def ledger(self, stock_id: str) -> Iterator[LedgerEntry]:
        self.spec(stock_id)
        return iter(redis_reads.ledger(self._redis, self._keys(stock_id), stock_id))

    def issued_claims(self, stock_id: str) -> Iterator[tuple[ClaimRequest, Coupon]]:
        return ((request, coupon) for request, coupon, _ in self._claims(stock_id))

    def limit_usage(self, stock_id: str) -> dict[LimitKey, int]:
        return redis_reads.limit_usage(self._redis, self._keys(stock_id).limits, stock_id)

    def daily_usage(self, stock_id: str) -> dict[int, tuple[int, int]]:
        return redis_reads.daily(self._redis.hgetall(self._keys(stock_id).daily))

    def claim_persons(self, stock_id: str) -> dict[str, str]:
        return redis_reads.claim_persons(self._redis.hgetall(self._keys(stock_id).persons))

    def records(self, stock_id: str) -> StockRecords:
        """One snapshot: ``records.lua`` reads every part in one atomic step."""
        keys = records_keys(self._keys(stock_id))
        reply = self._run("records", keys, (f"{stock_id}.",))
        return redis_reads.records(stock_id, reply)

    def stock_ids(self) -> list[str]:
        return sorted(self._redis.smembers(self._global.stocks))

    def delete_all(self) -> int:
        """Delete every key under this store's prefix (tests, benchmarks); returns how many."""
        return redis_reads.delete_prefixed(self._redis, self.prefix)

    def close(self) -> None:
        self._redis.close()
