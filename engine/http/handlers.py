"""One short adapter per route: decode the body, call the engine with the server's clock, encode.

Handlers read the wall clock (``time.time()``) here, at the I/O edge, and pass it to the engine,
which reads none. A claim without a risk gate runs its pure pre-store step on the event loop and
awaits the store's atomic step (:class:`~engine.store.base.AsyncClaims`: batched by the SQLite
writer and by the Redis store, no thread per claim); other calls on a store that blocks (SQLite,
Redis) run in a thread pool so that the event loop keeps serving; the in-memory store is called
inline. Rejections are answered by the table in :mod:`engine.http.errors`; a handler never
picks an error status itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from engine.engine import ClaimAdmission, Engine
from engine.errors import InvariantBroken, StoreUnavailable
from engine.http import codec
from engine.http.errors import outcome_error
from engine.http.metrics import Metrics
from engine.http.threads import StoreThreads
from engine.ledger import Movement, StockStatus
from engine.outcomes import ClaimResult, Outcome
from engine.spec_io import stock_to_dict
from engine.stock import StockSpec, Subject
from engine.store.base import AsyncClaims

T = TypeVar("T")

JSON = b"application/json"
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


class Call(NamedTuple):
    """What a handler sees of a request."""

    path_id: str  # the {id} of /v1/stocks/{id}/…, "" elsewhere
    body: bytes


class Response(NamedTuple):
    status: int
    body: bytes
    content_type: bytes = JSON


def json_response(status: int, payload: Any) -> Response:
    return Response(status, codec.dumps(payload))


def _timed(function: Callable[..., T], args: tuple[Any, ...]) -> tuple[T, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


_PLAIN_REJECTIONS: dict[Outcome, Response] = {}  # unflagged, reasonless: the same bytes each time


def claim_rejection(result: ClaimResult) -> Response:
    """The answer to a refused claim: ``{error, message, outcome, flagged, reasons}`` with the
    status of the table (a sold-out storm answers the same cached bytes thousands of times)."""
    plain = not result.flagged and not result.reasons
    if plain and result.outcome in _PLAIN_REJECTIONS:
        return _PLAIN_REJECTIONS[result.outcome]
    status, error = outcome_error(result.outcome)
    response = json_response(status, {**error, **codec.claim_dict(result)})
    if plain:
        _PLAIN_REJECTIONS[result.outcome] = response
    return response


class Handlers:
    """The route handlers over one engine. ``executor`` is None for a non-blocking store."""

    def __init__(
        self,
        engine: Engine,
        metrics: Metrics,
        executor: StoreThreads | None,
        store_kind: str,
        digest_key: bytes,
    ) -> None:
        self.engine = engine
        self.digest_key = digest_key  # keys the phone digests of the claims listing
        self.store = engine.store
        self.metrics = metrics
        self.executor = executor
        self.store_kind = store_kind
        store = engine.store
        self.claims = store if engine.risk is None and isinstance(store, AsyncClaims) else None
        # The claim route without awaiting, when nothing in it can block (see CouponlabApp).
        self.claim_now: Callable[[Call], Response] | None = None
        if executor is None:
            self.claim = self._claim_inline_awaitable  # type: ignore[method-assign]
            self.claim_now = self.claim_inline
        elif self.claims is not None:
            self.claim = self._claim_awaited  # type: ignore[method-assign]
        else:
            self.claim = self._claim_pooled  # type: ignore[method-assign]

    async def run(self, operation: str, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)``, in the thread pool when the store blocks; timed per operation."""
        if self.executor is None:
            result, elapsed_s = _timed(function, args)
        else:
            result, elapsed_s = await self.executor.run(_timed, function, args)
        self.metrics.store_call(operation, elapsed_s)
        return result

    # -- stocks ------------------------------------------------------------------------------

    async def create_stock(self, call: Call) -> Response:
        """201 when this request created the stock (its replays too: the first answer again),
        200 when a new request id finds the stock with this definition; 409 for another
        definition (``duplicate_stock``) or a request id used for another request."""
        spec, request_id = codec.stock_definition(codec.parse_json(call.body))
        status, created = await self.run(
            "create_stock", self._create_stock, spec, request_id, time.time()
        )
        body = {"stock": stock_to_dict(spec), "status": codec.status_dict(status)}
        return json_response(201 if created else 200, body)

    def _create_stock(
        self, spec: StockSpec, request_id: str, now_s: float
    ) -> tuple[StockStatus, bool]:
        """The engine's outcome and whether ``request_id`` is the request that created the stock.

        Decided from what the store's atomic step recorded, not from a read before it (two
        creations racing would both read "absent"): the creating request's outcome is the
        stock's status when new (budget all available, no coupon), and the stock's first ledger
        entry is its FUND movement under that request's id. Any other status answers 200 at
        once; otherwise the first ledger entry decides (one entry for a new stock)."""
        status = self.engine.create_stock(spec, request_id, now_s)
        budget_fen = spec.budget_fen
        if status != StockStatus(spec.stock_id, budget_fen, budget_fen, 0, 0, 0, 0, 0):
            return status, False
        first = next(self.store.ledger(spec.stock_id), None)
        if first is None or first.movement is not Movement.FUND:
            raise InvariantBroken(f"stock {spec.stock_id!r}: the ledger does not start funded")
        return status, first.request_id == request_id

    async def get_stock(self, call: Call) -> Response:
        spec, status = await self.run("status", self._spec_and_status, call.path_id)
        return json_response(
            200, {"stock": stock_to_dict(spec), "status": codec.status_dict(status)}
        )

    def _spec_and_status(self, stock_id: str) -> tuple[StockSpec, Any]:
        return self.store.spec(stock_id), self.store.status(stock_id)

    async def reconciliation(self, call: Call) -> Response:
        check = await self.run("reconcile", self.engine.reconcile, call.path_id)
        return json_response(200, codec.reconciliation_dict(check))

    async def adjust_budget(self, call: Call) -> Response:
        request = codec.budget_adjustment(call.path_id, codec.parse_json(call.body))
        result = await self.run("adjust_budget", self.engine.adjust_budget, request, time.time())
        body: dict[str, Any] = {"outcome": result.outcome.value, "budget_fen": result.budget_fen}
        if result.outcome is Outcome.OK:
            return json_response(200, body)
        status, error = outcome_error(result.outcome)
        return json_response(status, {**error, **body})

    # -- claims ------------------------------------------------------------------------------

    async def claim(self, call: Call) -> Response:
        """The claim route (replaced in ``__init__`` by the variant that fits the store)."""
        raise NotImplementedError

    async def _claim_inline_awaitable(self, call: Call) -> Response:
        return self.claim_inline(call)

    def claim_inline(self, call: Call) -> Response:
        """A store that never blocks (memory): every step on the event loop, not even a
        coroutine (the app calls it directly). Without a risk gate the early replay read is
        skipped: the store's step finds the replay itself."""
        request = codec.claim_request(call.path_id, codec.parse_json(call.body))
        now_s = time.time()
        start_s = time.perf_counter()
        engine = self.engine
        if engine.risk is None:
            step = engine.claim_step(request, now_s)
            if isinstance(step, ClaimAdmission):
                result = self.store.claim(*step)
            else:
                result = self.store.record(request, step)  # type: ignore[assignment]
        else:
            result = engine.claim(request, now_s)
        return self._claimed(result, start_s)

    async def _claim_awaited(self, call: Call) -> Response:
        """A store with awaitable claims and no risk gate (SQLite, Redis): the pure steps on the
        event loop, the store's atomic step awaited, no thread hand-off per claim."""
        request = codec.claim_request(call.path_id, codec.parse_json(call.body))
        now_s = time.time()
        start_s = time.perf_counter()
        engine, claims = self.engine, self.claims
        assert claims is not None
        if engine.cached_rules(request.stock_id) is None:  # first claim of a stock: a read
            await self.run("spec", engine.rules, request.stock_id)
        step = engine.claim_step(request, now_s)
        if isinstance(step, ClaimAdmission):
            result = await claims.claim_async(*step)
        else:
            result = await claims.record_async(request, step)
        return self._claimed(result, start_s)

    async def _claim_pooled(self, call: Call) -> Response:
        """Anything else (a blocking store with a risk gate): ``Engine.claim`` in the pool."""
        request = codec.claim_request(call.path_id, codec.parse_json(call.body))
        assert self.executor is not None
        start_s = time.perf_counter()
        result = await self.executor.run(self.engine.claim, request, time.time())
        return self._claimed(result, start_s)

    def _claimed(self, result: ClaimResult, start_s: float) -> Response:
        """Count and answer a claim's result (``start_s``: when the engine got it)."""
        # ._value_: .value without its descriptor
        self.metrics.claim(result.outcome._value_, time.perf_counter() - start_s)
        if result.coupon is not None:
            return _new(Response, (201, codec.claim_created(result), JSON))
        return claim_rejection(result)

    async def list_claims(self, call: Call) -> Response:
        payload = await self.run("list_claims", self._claims_and_limits, call.path_id)
        return json_response(200, payload)

    def _claims_and_limits(self, stock_id: str) -> dict[str, Any]:
        spec = self.store.spec(stock_id)
        claims = []
        for request, coupon in self.store.issued_claims(stock_id):
            claim: dict[str, Any] = {
                "request_id": request.request_id,
                "customer_id": request.customer_id,
                "device_id": request.device_id,
                "card": request.card,
                "ip": request.ip,
                "coupon_id": coupon.coupon_id,
                "value_fen": coupon.value_fen,
                "claimed_s": coupon.claimed_s,
            }
            if request.phone:
                claim["phone_hash"] = codec.digest(request.phone, self.digest_key)
            claims.append(claim)
        limits = []
        for (_, index, subject_value, period_key), used in self.store.limit_usage(stock_id).items():
            limit = spec.limits[index]
            hidden = limit.subject is Subject.PHONE
            limits.append(
                {
                    "limit": {
                        "subject": limit.subject.value,
                        "period": limit.period.value,
                        "count": limit.count,
                    },
                    "subject_value": (
                        codec.digest(subject_value, self.digest_key) if hidden else subject_value
                    ),
                    "period_key": period_key,
                    "used": used,
                }
            )
        return {"claims": claims, "limits": limits}

    # -- redemptions and refunds -------------------------------------------------------------

    async def redeem(self, call: Call) -> Response:
        request = codec.redemption_request(codec.parse_json(call.body))
        result = await self.run("redeem", self.engine.redeem, request, time.time())
        body: dict[str, Any] = {
            "outcome": result.outcome.value,
            "flagged": result.flagged,
            "reasons": list(result.reasons),
        }
        if result.redemption is not None:
            redemption = codec.redemption_dict(result.redemption)
            return json_response(201, {**body, "redemption": redemption})
        status, error = outcome_error(result.outcome)
        return json_response(status, {**error, **body})

    async def refund(self, call: Call) -> Response:
        request = codec.refund_request(codec.parse_json(call.body))
        result = await self.run("refund", self.engine.refund, request, time.time())
        body: dict[str, Any] = {
            "outcome": result.outcome.value,
            "clawed_back_fen": result.clawed_back_fen,
            "coupon_returned": result.coupon_returned,
        }
        if result.redemption is not None:
            body["redemption"] = codec.redemption_dict(result.redemption)
        if result.outcome is Outcome.OK:
            return json_response(201, body)
        status, error = outcome_error(result.outcome)
        return json_response(status, {**error, **body})

    # -- operations --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release what the event loop holds in the store (on that loop, before closing)."""
        if isinstance(self.store, AsyncClaims):
            await self.store.aclose()

    async def health(self, call: Call) -> Response:
        try:
            stocks = await self.run("health", self.store.stock_ids)
        except Exception as error:  # any store failure means "not healthy", not a crash
            raise StoreUnavailable(f"store {self.store_kind}: {type(error).__name__}") from error
        return json_response(200, {"status": "ok", "store": self.store_kind, "stocks": len(stocks)})

    async def metrics_text(self, call: Call) -> Response:
        return Response(200, self.metrics.render().encode(), b"text/plain; version=0.0.4")
