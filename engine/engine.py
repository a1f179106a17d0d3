"""The engine facade: the one object the simulation, the HTTP service and the tests call.

``Engine`` wires the pure decisions, the risk gate and a store together. It reads no clock and no
global random generator: every call takes ``now_s``, and the seed given at construction fixes every
random draw (random 立减金 amounts, review challenges).
"""

from __future__ import annotations

from typing import NamedTuple

from engine.decide import CHALLENGE_DOMAIN, ClaimPlan, screen_claim, uniform
from engine.ledger import Reconciliation, StockStatus, reconcile
from engine.outcomes import (
    BudgetResult,
    ClaimResult,
    ExpiryResult,
    Outcome,
    RedemptionResult,
    RefundResult,
)
from engine.recount import counter_problems, recount_claims
from engine.requests import (
    BudgetAdjustment,
    ClaimRequest,
    ExpiryRequest,
    RedemptionRequest,
    RefundRequest,
)
from engine.risk_gate import (
    PASS,
    Action,
    CustomerIsPerson,
    IdentityResolver,
    ReviewLog,
    RiskGate,
    RiskVerdict,
)
from engine.rules import StockRules
from engine.stock import ReviewPolicy, StockSpec
from engine.store.base import Store

_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


class ClaimAdmission(NamedTuple):
    """What the store's atomic step of a claim needs: ``store.claim(*admission)``."""

    rules: StockRules
    plan: ClaimPlan
    flagged: bool
    reasons: tuple[str, ...]


class Engine:
    """Coupon operations over one store, with optional risk.

    Contract of every mutating call: it is atomic in the store, idempotent by ``request_id``
    (see :class:`~engine.store.base.Store`), and expected rejections come back as an
    :class:`~engine.outcomes.Outcome` inside the result rather than as exceptions.
    """

    def __init__(
        self,
        store: Store,
        *,
        seed: int,
        risk: RiskGate | None = None,
        identity: IdentityResolver | None = None,
    ) -> None:
        self.store = store
        self.seed = seed
        self.risk = risk
        self.identity = identity or CustomerIsPerson()
        # The default resolver is inlined on the claim path (the customer id is the person).
        self._customer_is_person = type(self.identity) is CustomerIsPerson
        self._rules: dict[str, StockRules] = {}
        # Told what each review became under the stock's policy (the evaluation needs it).
        self._review_log = risk.enforced if isinstance(risk, ReviewLog) else None

    def create_stock(self, spec: StockSpec, request_id: str, now_s: float) -> StockStatus:
        status = self.store.create_stock(spec, request_id, now_s)
        self._rules[spec.stock_id] = StockRules(self.store.spec(spec.stock_id))
        return status

    def rules(self, stock_id: str) -> StockRules:
        """The compiled rules of a stock (loaded from the store on first use)."""
        rules = self._rules.get(stock_id)
        if rules is None:
            rules = self._rules[stock_id] = StockRules(self.store.spec(stock_id))
        return rules

    def claim(self, request: ClaimRequest, now_s: float) -> ClaimResult:
        """Issue one coupon, or say why not (window, eligibility, risk, quota, budget, limit).

        :meth:`claim_step` followed by the store's step, with the early replay exit first.
        The screen is spelled out here rather than called: the simulation's hot path saves a
        call and a tuple per claim (~0.4 µs of ~5)."""
        store = self.store
        prior = store.prior(request)
        if prior is not None:
            return prior  # type: ignore[return-value]
        rules = self._rules.get(request.stock_id) or self.rules(request.stock_id)
        person = (
            request.customer_id if self._customer_is_person else self.identity.person_of(request)
        )
        plan = screen_claim(rules, request, person, now_s, self.seed)
        if type(plan) is not ClaimPlan:
            return store.record(request, ClaimResult(plan))  # type: ignore[arg-type,return-value]
        if self.risk is None:
            return store.claim(rules, plan, False, ())
        step = self._risk_step(rules, plan, person, now_s)
        if isinstance(step, ClaimAdmission):
            return store.claim(*step)
        return store.record(request, step)  # type: ignore[return-value]

    def claim_step(self, request: ClaimRequest, now_s: float) -> ClaimAdmission | ClaimResult:
        """A claim up to the store's atomic step: window, eligibility, draw, then risk.

        Returns either the admission that the store must apply in its atomic step
        (``store.claim(*admission)``: quota, budget and limits are checked there), or a result
        decided without any counter, which the store must record so that a replay gets it
        (``store.record(request, result)``). Touches the store only to load the stock's rules
        the first time (:meth:`rules`). It does not look for a prior outcome: :meth:`claim`
        asks ``store.prior`` first; a caller that skips that relies on the store's step finding
        the replay (every store's does), so only the risk gate would assess a replay again.
        """
        rules = self._rules.get(request.stock_id) or self.rules(request.stock_id)
        person = (
            request.customer_id if self._customer_is_person else self.identity.person_of(request)
        )
        plan = screen_claim(rules, request, person, now_s, self.seed)
        if type(plan) is not ClaimPlan:
            return ClaimResult(plan)  # type: ignore[arg-type]
        if self.risk is None:
            return _new(ClaimAdmission, (rules, plan, False, ()))
        return self._risk_step(rules, plan, person, now_s)

    def _risk_step(
        self, rules: StockRules, plan: ClaimPlan, person: str, now_s: float
    ) -> ClaimAdmission | ClaimResult:
        """Assess a screened claim; the admission, or the risk rejection to record."""
        assert self.risk is not None
        request = plan.request
        verdict = self.risk.assess_claim(request, person, plan.opened_s, now_s)
        passed, flagged = self._apply_policy(rules.spec, verdict, request.request_id)
        if not passed:
            return ClaimResult(Outcome.RISK_REJECTED, None, False, verdict.reasons)
        return ClaimAdmission(rules, plan, flagged, verdict.reasons)

    def cached_rules(self, stock_id: str) -> StockRules | None:
        """The stock's rules if already loaded (so an async caller knows :meth:`claim_step`
        will not read the store)."""
        return self._rules.get(stock_id)

    def _apply_policy(
        self, spec: StockSpec, verdict: RiskVerdict, request_id: str
    ) -> tuple[bool, bool]:
        """(passes, flagged) for a risk verdict under the stock's review policy; what became
        of a review is reported to a gate that logs it (:class:`ReviewLog`), with the verdict
        it returned (which names its log entry)."""
        action = verdict.action
        if action is Action.PASS:
            return True, False
        if action is Action.REJECT:
            return False, False
        policy = spec.review_policy
        if policy is ReviewPolicy.REJECT:
            passed = False
        elif policy is ReviewPolicy.PASS_AND_FLAG:
            passed = True
        else:
            passed = uniform(self.seed, CHALLENGE_DOMAIN, request_id) < spec.challenge_pass_share
        if self._review_log is not None:
            self._review_log(verdict, passed)
        return passed, passed

    def redeem(self, request: RedemptionRequest, now_s: float) -> RedemptionResult:
        """Pay an order with a coupon; the discount is allocated over the eligible lines."""
        prior = self.store.prior(request)
        if prior is not None:
            return prior  # type: ignore[return-value]
        verdict = PASS
        if self.risk is not None:
            coupon = self.store.coupon(request.coupon_id)
            spec = self.rules(coupon.stock_id).spec
            threshold = spec.value.threshold_fen
            verdict = self.risk.assess_redemption(request, coupon, threshold, now_s)
            passed, flagged = self._apply_policy(spec, verdict, request.request_id)
            if not passed:
                result = RedemptionResult(Outcome.RISK_REJECTED, None, False, verdict.reasons)
                return self.store.record(request, result)  # type: ignore[return-value]
            return self.store.redeem(request, now_s, flagged, verdict.reasons)
        return self.store.redeem(request, now_s, False, ())

    def refund(self, request: RefundRequest, now_s: float) -> RefundResult:
        """Refund part or all of a redemption; claw back pro rata or return the coupon."""
        return self.store.refund(request, now_s)

    def expire(self, request: ExpiryRequest, now_s: float) -> ExpiryResult:
        """Expire every issued coupon whose validity ended by ``request.until_s``.

        ``until_s`` may not be later than the clock (``now_s``): expiring "until next week"
        would expire coupons that are still valid, so it raises :class:`InvalidDefinition`.
        A replay returns the first outcome whenever it comes (the clock is not part of it): the
        store looks for it first, then checks the clock, in one step."""
        return self.store.expire(request, now_s)

    def adjust_budget(self, request: BudgetAdjustment, now_s: float) -> BudgetResult:
        """Compare-and-set a stock's budget."""
        return self.store.adjust_budget(request, now_s)

    def status(self, stock_id: str) -> StockStatus:
        return self.store.status(stock_id)

    def reconcile(self, stock_id: str) -> Reconciliation:
        """Replay the records and compare with every counter (对账): the ledger from empty
        against the accounts and coupon counts (:func:`engine.ledger.reconcile`), and the
        issued claims against the limit and daily counters (:mod:`engine.recount`). Every
        record comes from one snapshot (:meth:`Store.records`), so a reconciliation during a
        live sale sees no claim half-way."""
        records = self.store.records(stock_id)
        check = reconcile(records.status, records.ledger, records.coupons)
        rules = self.rules(stock_id)
        counts = recount_claims(rules, records.claims, records.claim_persons)
        problems = counter_problems(rules, counts, records.limit_usage, records.daily_usage)
        if not problems:
            return check
        return check._replace(ok=False, mismatches=(*check.mismatches, *problems))
