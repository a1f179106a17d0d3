"""The store boundary. A store keeps state and applies decisions atomically; it decides nothing
itself beyond calling the pure functions of :mod:`engine.decide` inside its atomic step.

Request ids are scoped per stock (:func:`scope_of`): every store keeps a request's outcome with
the stock the request belongs to, because a store sharded by stock (Redis Cluster: one slot per
stock) cannot check a store-wide key atomically with a stock's keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import NamedTuple, Protocol, runtime_checkable

from engine.coupon import Coupon
from engine.decide import ClaimPlan
from engine.errors import UnknownCoupon, UnknownRedemption, UnknownStock
from engine.ledger import LedgerEntry, StockStatus
from engine.outcomes import (
    BudgetResult,
    ClaimResult,
    ExpiryResult,
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
    StockCreation,
)
from engine.rules import LimitKey, StockRules
from engine.stock import StockSpec

Request = (
    ClaimRequest
    | RedemptionRequest
    | RefundRequest
    | ExpiryRequest
    | BudgetAdjustment
    | StockCreation
)
Result = ClaimResult | RedemptionResult | RefundResult | ExpiryResult | BudgetResult | StockStatus

STORE_WIDE = ""  # the scope of expiry request ids (an expiry spans stocks); no stock id is ""


def scope_of(request: Request) -> str | None:
    """The stock whose request ids ``request``'s id belongs to: a claim's, a budget
    adjustment's or a creation's stock; a redemption's coupon's stock (a coupon id is
    ``<stock id>.<sequence>``; None for an id of no such form, which names no coupon);
    :data:`STORE_WIDE` for an expiry. None for a refund: its scope is its redemption's stock,
    which only the store knows (a refund of an unknown redemption has no outcome)."""
    cls = request.__class__
    if cls is ClaimRequest or cls is BudgetAdjustment:
        return request.stock_id  # type: ignore[union-attr]
    if cls is StockCreation:
        return request.spec.stock_id  # type: ignore[union-attr]
    if cls is RedemptionRequest:
        stock_id = request.coupon_id.rpartition(".")[0]  # type: ignore[union-attr]
        return stock_id or None
    if cls is ExpiryRequest:
        return STORE_WIDE
    return None


def unknown_scope(request: Request) -> Exception:
    """The error for ``request`` when its scope names nothing the store has: the refund's
    redemption, the redemption's coupon, or the stock."""
    if isinstance(request, RefundRequest):
        return UnknownRedemption(request.redemption_id)
    if isinstance(request, RedemptionRequest):
        return UnknownCoupon(request.coupon_id)
    return UnknownStock(str(scope_of(request)))


class StockRecords(NamedTuple):
    """Every record of one stock that reconciliation replays, read as one consistent snapshot
    (:meth:`Store.records`): no operation lands between two of its parts."""

    status: StockStatus
    ledger: tuple[LedgerEntry, ...]
    coupons: tuple[Coupon, ...]  # as they are now, in issue order
    claims: tuple[tuple[ClaimRequest, Coupon], ...]  # each issued claim, its coupon as issued
    limit_usage: dict[LimitKey, int]
    daily_usage: dict[int, tuple[int, int]]
    claim_persons: dict[str, str]


class Store(Protocol):
    """What the engine needs from a store. Every mutating method is atomic and idempotent by
    request id within the request's scope (:func:`scope_of`: its stock, or store-wide for an
    expiry): the first outcome for an id is kept and returned for every identical replay, and
    a different request under an id used in that scope raises
    :class:`~engine.errors.RequestConflict`. The same id in another stock is another request."""

    def create_stock(self, spec: StockSpec, request_id: str, now_s: float) -> StockStatus:
        """Create ``spec`` with its budget funded, idempotent by ``request_id`` like every other
        mutation (:class:`~engine.requests.StockCreation`): a replay returns the first status,
        a used id with another spec (or another request) raises
        :class:`~engine.errors.RequestConflict`. Under a new id, an equal definition of an
        existing stock returns its current status (and records it); another definition raises
        :class:`~engine.errors.DuplicateStock`."""
        ...

    def spec(self, stock_id: str) -> StockSpec:
        """The stock's definition, or :class:`~engine.errors.UnknownStock`."""
        ...

    def prior(self, request: Request) -> Result | None:
        """The recorded outcome of this request id (an early exit, not a guarantee)."""
        ...

    def record(self, request: Request, result: Result) -> Result:
        """Record an outcome decided without touching counters (a stateless rejection).
        Returns the first outcome recorded for this id, which may be another caller's."""
        ...

    def claim(
        self, rules: StockRules, plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...]
    ) -> ClaimResult:
        """Admit (quota, budget, limits) and issue atomically."""
        ...

    def redeem(
        self, request: RedemptionRequest, now_s: float, flagged: bool, reasons: tuple[str, ...]
    ) -> RedemptionResult:
        """Redeem a coupon: spend the discount, release the unused reservation."""
        ...

    def refund(self, request: RefundRequest, now_s: float) -> RefundResult: ...

    def expire(self, request: ExpiryRequest, now_s: float) -> ExpiryResult:
        """Expire every issued coupon valid until ``request.until_s`` or earlier. In one step:
        the replay check first (a replay answers whatever the clock), then
        :func:`~engine.decide.check_expiry` against ``now_s``, then the expiry."""
        ...

    def adjust_budget(self, request: BudgetAdjustment, now_s: float) -> BudgetResult: ...

    def status(self, stock_id: str) -> StockStatus: ...

    def coupon(self, coupon_id: str) -> Coupon: ...

    def redemption(self, redemption_id: str) -> Redemption: ...

    def coupons(self, stock_id: str) -> Iterator[Coupon]: ...

    def ledger(self, stock_id: str) -> Iterator[LedgerEntry]: ...

    def issued_claims(self, stock_id: str) -> Iterator[tuple[ClaimRequest, Coupon]]:
        """Every successful claim with the coupon it issued (for invariant checks)."""
        ...

    def limit_usage(self, stock_id: str) -> dict[LimitKey, int]:
        """The per-subject limit counters of a stock."""
        ...

    def daily_usage(self, stock_id: str) -> dict[int, tuple[int, int]]:
        """The per-day counters of a stock: local day key -> (coupons issued that day, fen
        reserved by them at claim). A store may keep none for a stock without a daily quota or
        daily budget (which never reads them)."""
        ...

    def claim_persons(self, stock_id: str) -> dict[str, str]:
        """Coupon id -> the natural person its claim was counted under, for the coupons of a
        stock with a person limit (:attr:`StockRules.person_limited`); empty otherwise."""
        ...

    def records(self, stock_id: str) -> StockRecords:
        """The stock's status, ledger, coupons, issued claims and counters in one consistent
        snapshot (what :meth:`engine.Engine.reconcile` replays during a live sale), or
        :class:`~engine.errors.UnknownStock`."""
        ...

    def stock_ids(self) -> list[str]: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncClaims(Protocol):
    """A store whose claim step can be awaited on an event loop, without a thread per call
    (SQLite: the writer thread settles the futures of a whole batch at once; Redis:
    redis.asyncio, concurrent claims batched into one script call). Same contracts as
    :meth:`Store.claim` and :meth:`Store.record`; :meth:`aclose` releases what the running
    loop holds (call it on that loop before :meth:`Store.close`)."""

    def claim_async(
        self, rules: StockRules, plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...]
    ) -> Awaitable[ClaimResult]: ...

    def record_async(
        self, request: ClaimRequest, result: ClaimResult
    ) -> Awaitable[ClaimResult]: ...

    async def aclose(self) -> None: ...
