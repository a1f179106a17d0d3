"""The in-memory store: the simulation's store and the fastest one.

Each mutating method holds one lock for its whole check-and-write, which is the atomic step for
threads; the simulation is single-threaded and pays only the uncontended lock. A stock's state,
request outcomes included, is a :class:`~engine.store.memory_state.StockState`; expiry requests
(which span stocks) keep theirs store-wide.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterator

from engine.coupon import Coupon, CouponState, transition
from engine.decide import (
    ClaimPlan,
    RefundVerdict,
    admit_compiled,
    check_expiry,
    check_order,
    decide_budget,
    decide_redemption,
    decide_refund,
)
from engine.errors import (
    DuplicateStock,
    InvariantBroken,
    UnknownCoupon,
    UnknownRedemption,
    UnknownStock,
)
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
    ClaimRequest,
    ExpiryRequest,
    RedemptionRequest,
    RefundRequest,
    StockCreation,
)
from engine.rules import LimitKey, StockRules
from engine.stock import StockSpec
from engine.store.base import (
    STORE_WIDE,
    Request,
    Result,
    StockRecords,
    scope_of,
    unknown_scope,
)
from engine.store.memory_state import Outcomes, StockState, replay

_M = Movement
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
_OK = Outcome.OK
_CLAIM = Movement.CLAIM
_ISSUED = CouponState.ISSUED
_REDEEMED = CouponState.REDEEMED
_REDEEM = Movement.REDEEM
_RELEASE = Movement.RELEASE_UNUSED
_ZEROS = (0,) * 32  # default counts for map(dict.get, keys, _ZEROS): more than any stock has


class MemoryStore:
    """A :class:`~engine.store.base.Store` in process memory. Not durable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stocks: dict[str, StockState] = {}
        self._expiries: Outcomes = {}  # expiry request id -> first outcome (store-wide)
        self._coupons: dict[str, Coupon] = {}
        self._redemptions: dict[str, Redemption] = {}
        self._expiry: list[tuple[float, str]] = []

    # -- stocks -----------------------------------------------------------------------------

    def create_stock(self, spec: StockSpec, request_id: str, now_s: float) -> StockStatus:
        request = StockCreation(request_id, spec)
        with self._lock:
            existing = self._stocks.get(spec.stock_id)
            if existing is not None and existing.spec != spec:
                raise DuplicateStock(spec.stock_id)  # first: the stock id names one definition
            if existing is not None:
                prior = replay(existing.outcomes, request)
                if prior is not None:
                    return prior  # type: ignore[return-value]
                status = existing.status()
            else:
                existing = StockState(spec)
                existing.budget_fen = 0
                existing.available_fen = 0
                existing.move(_M.FUND, spec.budget_fen, request_id, "", now_s)
                self._stocks[spec.stock_id] = existing
                status = existing.status()
            existing.outcomes[request_id] = (request, status)
            return status

    def spec(self, stock_id: str) -> StockSpec:
        return self._stock(stock_id).spec

    def _stock(self, stock_id: str) -> StockState:
        state = self._stocks.get(stock_id)
        if state is None:
            raise UnknownStock(stock_id)
        return state

    # -- idempotency ------------------------------------------------------------------------

    def prior(self, request: Request) -> Result | None:
        if request.__class__ is ClaimRequest:  # the claim path: no dispatch
            state = self._stocks.get(request.stock_id)
            return None if state is None else replay(state.outcomes, request)
        outcomes = self._outcomes_of(request)
        return None if outcomes is None else replay(outcomes, request)

    def _outcomes_of(self, request: Request) -> Outcomes | None:
        """The outcomes of ``request``'s scope (:func:`scope_of`); None when it names no
        stock, coupon or redemption this store has (then it has no outcome either)."""
        if request.__class__ is RefundRequest:
            redemption = self._redemptions.get(request.redemption_id)
            scope: str | None = None if redemption is None else redemption.stock_id
        else:
            scope = scope_of(request)
        if scope == STORE_WIDE:
            return self._expiries
        state = None if scope is None else self._stocks.get(scope)
        return None if state is None else state.outcomes

    def record(self, request: Request, result: Result) -> Result:
        with self._lock:
            outcomes = self._outcomes_of(request)
            if outcomes is None:
                raise unknown_scope(request)
            prior = replay(outcomes, request)
            if prior is not None:
                return prior
            outcomes[request.request_id] = (request, result)
            return result

    # -- claim ------------------------------------------------------------------------------

    def claim(
        self, rules: StockRules, plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...]
    ) -> ClaimResult:
        request = plan.request
        request_id = request.request_id
        with self._lock:
            state = self._stocks[rules.stock_id]
            outcomes = state.outcomes
            if request_id in outcomes:
                return replay(outcomes, request)  # type: ignore[return-value]
            day = plan.day_key
            tracks_days = rules.tracks_days
            keys = plan.limit_keys
            used = tuple(map(state.limit_used.get, keys, _ZEROS)) if keys else ()
            outcome, value = admit_compiled(
                rules,
                plan,
                state.issued,
                state.issued_by_day.get(day, 0) if tracks_days else 0,
                state.available_fen,
                state.reserved_by_day.get(day, 0) if tracks_days else 0,
                used,
            )
            coupon = None if outcome is not _OK else self._issue(rules, state, plan, value, used)
            result = _new(ClaimResult, (outcome, coupon, flagged, reasons))
            outcomes[request_id] = (request, result)
            return result

    def _issue(
        self,
        rules: StockRules,
        state: StockState,
        plan: ClaimPlan,
        value_fen: int,
        limit_used: tuple[int, ...],
    ) -> Coupon:
        """Write an admitted claim: counters, limits (``limit_used`` are the counts read in this
        atomic step), ledger, coupon. Asserts invariant 1 (quota, daily quota, limits)."""
        stock_id = state.stock_id
        issued = state.issued + 1
        if issued > rules.quota:
            raise InvariantBroken(f"stock {stock_id} issued {issued} over its quota")
        coupon_id = f"{stock_id}.{issued}"
        now_s = plan.now_s
        valid_until_s = plan.valid_until_s
        coupon = _new(
            Coupon,
            (
                coupon_id,
                stock_id,
                plan.request.customer_id,
                value_fen,
                now_s,
                valid_until_s,
                _ISSUED,
                "",
            ),
        )
        state.issued = issued
        if rules.tracks_days:
            state.count_day(rules, plan.day_key, value_fen)
        if limit_used:
            state.count_limits(rules.limit_counts, plan.limit_keys, limit_used)
            if rules.person_limited:  # the person is no field of the claim: kept for recounts
                state.persons[coupon_id] = plan.person_id
        # The CLAIM movement (available -> reserved), inlined from StockState.move.
        state.ledger.append(
            _new(
                LedgerEntry,
                (stock_id, _CLAIM, value_fen, plan.request.request_id, coupon_id, now_s),
            )
        )
        state.available_fen -= value_fen
        state.reserved_fen += value_fen
        if state.available_fen < 0:
            state.check_accounts(_CLAIM)
        state.coupon_ids.append(coupon_id)
        self._coupons[coupon_id] = coupon
        heapq.heappush(self._expiry, (valid_until_s, coupon_id))
        return coupon

    # -- redemption and refund --------------------------------------------------------------

    def redeem(
        self, request: RedemptionRequest, now_s: float, flagged: bool, reasons: tuple[str, ...]
    ) -> RedemptionResult:
        check_order(request)
        request_id = request.request_id
        with self._lock:
            coupon = self.coupon(request.coupon_id)
            state = self._stocks[coupon.stock_id]
            outcomes = state.outcomes
            if request_id in outcomes:
                return replay(outcomes, request)  # type: ignore[return-value]
            verdict = decide_redemption(state.spec, coupon, request, now_s)
            if verdict.__class__ is Redemption:
                assert isinstance(verdict, Redemption)
                self._apply_redemption(state, coupon, verdict, request_id)
                result = _new(RedemptionResult, (_OK, verdict, flagged, reasons))
            else:
                result = _new(RedemptionResult, (verdict, None, flagged, reasons))
            outcomes[request_id] = (request, result)
            return result

    def _apply_redemption(
        self, state: StockState, coupon: Coupon, redemption: Redemption, request_id: str
    ) -> None:
        """Coupon issued -> redeemed; REDEEM the discount and RELEASE_UNUSED the rest of its
        reservation (both inlined from StockState.move)."""
        at_s = redemption.redeemed_s
        coupon_id = coupon.coupon_id
        discount_fen = redemption.discount_fen
        unused_fen = coupon.value_fen - discount_fen
        self._coupons[coupon_id] = _new(
            Coupon,
            (*coupon[:6], transition(coupon.state, _REDEEMED), redemption.redemption_id),
        )
        self._redemptions[redemption.redemption_id] = redemption
        state.redeemed += 1
        stock_id = state.stock_id
        ledger = state.ledger
        ledger.append(
            _new(LedgerEntry, (stock_id, _REDEEM, discount_fen, request_id, coupon_id, at_s))
        )
        if unused_fen:
            ledger.append(
                _new(LedgerEntry, (stock_id, _RELEASE, unused_fen, request_id, coupon_id, at_s))
            )
        state.reserved_fen -= coupon.value_fen
        state.spent_fen += discount_fen
        state.available_fen += unused_fen
        if state.reserved_fen < 0 or unused_fen < 0:
            state.check_accounts(_REDEEM)

    def refund(self, request: RefundRequest, now_s: float) -> RefundResult:
        with self._lock:
            redemption = self.redemption(request.redemption_id)
            coupon = self._coupons[redemption.coupon_id]
            state = self._stocks[coupon.stock_id]
            prior = replay(state.outcomes, request)
            if prior is not None:
                return prior  # type: ignore[return-value]
            verdict = decide_refund(
                state.spec, coupon, redemption, request, now_s, state.available_fen
            )
            if verdict.outcome is Outcome.OK:
                self._apply_refund(state, coupon, verdict.redemption, verdict, request, now_s)
            returned = verdict.outcome is Outcome.OK and verdict.redemption.returned
            result = RefundResult(
                verdict.outcome, verdict.clawback_fen, returned, verdict.redemption
            )
            state.outcomes[request.request_id] = (request, result)
            return result

    def _apply_refund(
        self,
        state: StockState,
        coupon: Coupon,
        after: Redemption,
        verdict: RefundVerdict,
        request: RefundRequest,
        now_s: float,
    ) -> None:
        self._redemptions[after.redemption_id] = after
        cid, rid = coupon.coupon_id, request.request_id
        state.move(_M.CLAWBACK, verdict.clawback_fen, rid, cid, now_s)
        if after.returned:
            self._coupons[cid] = coupon.moved(CouponState.ISSUED)
            state.redeemed -= 1
            state.move(_M.RETURN, verdict.return_fen, rid, cid, now_s)
            state.move(_M.RETURN_TOPUP, verdict.topup_fen, rid, cid, now_s)
            heapq.heappush(self._expiry, (coupon.valid_until_s, cid))

    # -- expiry and budget ------------------------------------------------------------------

    def expire(self, request: ExpiryRequest, now_s: float) -> ExpiryResult:
        with self._lock:
            prior = replay(self._expiries, request)
            if prior is not None:
                return prior  # type: ignore[return-value]
            check_expiry(request, now_s)
            count = released = 0
            while self._expiry and self._expiry[0][0] <= request.until_s:
                _, coupon_id = heapq.heappop(self._expiry)
                coupon = self._coupons[coupon_id]
                if coupon.state is not CouponState.ISSUED:
                    continue
                state = self._stocks[coupon.stock_id]
                self._coupons[coupon_id] = coupon.moved(CouponState.EXPIRED)
                state.expired += 1
                state.move(
                    _M.EXPIRE, coupon.value_fen, request.request_id, coupon_id, request.until_s
                )
                count += 1
                released += coupon.value_fen
            result = ExpiryResult(Outcome.OK, count, released)
            self._expiries[request.request_id] = (request, result)
            return result

    def adjust_budget(self, request: BudgetAdjustment, now_s: float) -> BudgetResult:
        with self._lock:
            state = self._stock(request.stock_id)
            prior = replay(state.outcomes, request)
            if prior is not None:
                return prior  # type: ignore[return-value]
            outcome = decide_budget(state.status(), request)
            if outcome is Outcome.OK:
                delta = request.new_budget_fen - state.budget_fen
                movement = _M.FUND if delta > 0 else _M.DEFUND
                state.move(movement, abs(delta), request.request_id, "", now_s)
            result = BudgetResult(outcome, state.budget_fen)
            state.outcomes[request.request_id] = (request, result)
            return result

    # -- reads ------------------------------------------------------------------------------

    def status(self, stock_id: str) -> StockStatus:
        with self._lock:
            return self._stock(stock_id).status()

    def coupon(self, coupon_id: str) -> Coupon:
        coupon = self._coupons.get(coupon_id)
        if coupon is None:
            raise UnknownCoupon(coupon_id)
        return coupon

    def redemption(self, redemption_id: str) -> Redemption:
        redemption = self._redemptions.get(redemption_id)
        if redemption is None:
            raise UnknownRedemption(redemption_id)
        return redemption

    def coupons(self, stock_id: str) -> Iterator[Coupon]:
        with self._lock:
            ids = list(self._stock(stock_id).coupon_ids)
        return (self._coupons[coupon_id] for coupon_id in ids)

    def ledger(self, stock_id: str) -> Iterator[LedgerEntry]:
        with self._lock:
            return iter(list(self._stock(stock_id).ledger))

    def issued_claims(self, stock_id: str) -> Iterator[tuple[ClaimRequest, Coupon]]:
        with self._lock:
            claims = self._stock(stock_id).issued_claims()
        return iter(claims)  # type: ignore[arg-type]

    def limit_usage(self, stock_id: str) -> dict[LimitKey, int]:
        with self._lock:
            return dict(self._stock(stock_id).limit_used)

    def daily_usage(self, stock_id: str) -> dict[int, tuple[int, int]]:
        """Kept only for stocks with a daily quota or budget (the others never read them)."""
        with self._lock:
            return self._stock(stock_id).daily_usage()

    def claim_persons(self, stock_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self._stock(stock_id).persons)

    def records(self, stock_id: str) -> StockRecords:
        """One snapshot: everything is copied under one acquisition of the lock."""
        with self._lock:
            return self._stock(stock_id).records(self._coupons)

    def stock_ids(self) -> list[str]:
        return list(self._stocks)

    def close(self) -> None:
        """Nothing to release."""
