"""A Hypothesis state machine drives one engine with random claims, redemptions, partial and
full refunds, expiries, clock jumps, budget adjustments and request replays. Every operation's
outcome is compared with an independent model (``engine_model``), and the seven invariants of
design.md are checked after every step:

1. issued <= quota per day and in total (and the daily budget); no limit of a subject exceeded,
   and the store's limit counters equal a recount of the acknowledged claims (by the model here,
   and by the engine's own reconciliation in 7);
2. available + reserved + spent = budget, none negative;
3. one outcome per request id (the stock's creation included): the store holds every first
   outcome unchanged; a replay returns it, another payload under the id conflicts;
4. coupon ids unique; a coupon redeemed at most once at a time, only by its owner, while valid;
   none left issued past an expiry run that covered its validity;
5. every redemption's line discounts sum to its discount, no line above its amount or out of
   scope with a discount, the discount <= the eligible amount; clawbacks <= the discount;
6. every acknowledged claim's coupon is in the store, and no other coupon;
7. the records replayed reproduce every counter (reconciliation): the ledger from empty gives
   the accounts and coupon counts, coupon by coupon; the issued claims give every limit counter
   and the daily issued/reserved counters.

Refunds include the full refund (of 0 fen) of an order the coupon paid entirely, and expiry runs
reaching past the clock, which must be refused.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from typing import Any

import pytest
from engine_kit import DAY_S, FRIDAY, FRIDAY_10, FRIDAYS_10_22, SEASON, stock
from engine_model import PhoneIsPerson, StockModel, expected_discount
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from engine import (
    BudgetAdjustment,
    ClaimRequest,
    CouponState,
    Discount,
    Eligibility,
    Engine,
    ExpiryRequest,
    InvalidDefinition,
    Limit,
    MemoryStore,
    OrderLine,
    Outcome,
    Period,
    RandomAmount,
    RedemptionRequest,
    RefundPolicy,
    RefundRequest,
    RequestConflict,
    Scope,
    StockSpec,
    Subject,
    Tier,
    Validity,
)
from engine.requests import StockCreation

LIMITS = (
    Limit(Subject.CARD, Period.DAY, 1),
    Limit(Subject.CUSTOMER, Period.WEEK, 2),
    Limit(Subject.DEVICE, Period.CAMPAIGN, 3),
)
VARIANTS: dict[str, StockSpec] = {
    "voucher": stock(
        window=SEASON,
        quota=12,
        daily_quota=4,
        budget_fen=40_000,
        limits=LIMITS,
        refund_policy=RefundPolicy.RETURN_IF_VALID,
        validity=Validity(days_after_claim=2),
    ),
    "random": stock(
        window=SEASON,
        value=RandomAmount(tiers=(Tier(188, 50), Tier(888, 9), Tier(8_800, 1))),
        quota=30,
        budget_fen=12_000,
        daily_budget_fen=9_000,
        limits=LIMITS[:1],
        refund_policy=RefundPolicy.RETURN_IF_VALID,
        validity=Validity(fixed_end_s=FRIDAY + 5 * DAY_S),
    ),
    "discount": stock(
        window=SEASON,
        value=Discount(30, 2_000, threshold_fen=1_000),
        quota=6,
        budget_fen=25_000,
        limits=LIMITS[1:],
        scope=Scope(items=frozenset({"milk", "rice"})),
        refund_policy=RefundPolicy.RETURN_IF_VALID,
        eligibility=Eligibility(segments=frozenset({"new", "dormant"})),
        validity=Validity(days_after_claim=1),
    ),
    # 立减金 from min/max/mean with the mean above the midpoint: most draws near the top.
    "lucky": stock(
        window=SEASON,
        value=RandomAmount(min_fen=100, max_fen_declared=5_000, mean_fen=4_000),
        quota=20,
        budget_fen=30_000,
        daily_budget_fen=12_000,
        limits=(*LIMITS[1:2], Limit(Subject.PERSON, Period.DAY, 2)),
        validity=Validity(days_after_claim=2),
    ),
    # The seeds' Friday 10:00-22:00 window in Asia/Shanghai, with phone and natural-person limits.
    "friday": stock(
        window=FRIDAYS_10_22,
        quota=15,
        budget_fen=60_000,
        limits=(Limit(Subject.PHONE, Period.MONTH, 3), Limit(Subject.PERSON, Period.DAY, 1)),
        validity=Validity(days_after_claim=3),
    ),
}
ITEMS = ("milk", "rice", "tv")
START_TIMES_S = (FRIDAY + 3600.0, FRIDAY_10 + 60.0)  # before and inside the Friday slot


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._start(VARIANTS["voucher"], 0, START_TIMES_S[0])
        self.serial = 0
        self.orders: dict[str, RedemptionRequest] = {}  # redemption id -> its order
        self.redeemed_by: dict[str, str] = {}  # coupon id -> redemption id while redeemed
        self.expired_until_s = 0.0
        self.coupon_ids: list[str] = []
        self.redemption_ids: list[str] = []

    def _start(self, spec: StockSpec, seed: int, now_s: float) -> None:
        self.spec = spec
        self.model = StockModel(spec)
        self.engine = Engine(MemoryStore(), seed=seed, identity=PhoneIsPerson())
        status = self.engine.create_stock(spec, "create", FRIDAY)
        # request id -> (request, first result, operation)
        self.outcomes: dict[str, tuple[Any, Any, str]] = {
            "create": (StockCreation("create", spec), status, "create")
        }
        self.now_s = now_s

    def _id(self, kind: str) -> str:
        self.serial += 1
        return f"{kind}-{self.serial}"

    def _remember(self, request: Any, result: Any, op: str) -> None:
        assert request.request_id not in self.outcomes
        self.outcomes[request.request_id] = (request, result, op)

    @initialize(
        variant=st.sampled_from(sorted(VARIANTS)),
        seed=st.integers(0, 3),
        now_s=st.sampled_from(START_TIMES_S),
    )
    def create(self, variant: str, seed: int, now_s: float) -> None:
        self._start(VARIANTS[variant], seed, now_s)

    # -- operations ------------------------------------------------------------------------

    @rule(
        customer=st.integers(0, 5),
        card=st.integers(0, 4),
        device=st.integers(0, 3),
        phone=st.integers(0, 3),
        segment=st.sampled_from(["new", "dormant", "regular"]),
    )
    def claim(self, customer: int, card: int, device: int, phone: int, segment: str) -> None:
        request = ClaimRequest(
            self._id("claim"),
            "friday",
            f"u{customer}",
            f"d{device}",
            phone=f"p{phone}",
            card=f"k{card}",
            segment=segment,
        )
        available_fen = self.engine.status("friday").available_fen
        expected = self.model.expected_claim(request, self.now_s, available_fen)
        result = self.engine.claim(request, self.now_s)
        assert result.outcome is expected, (result, expected)
        self._check_claim(request, result)
        self._remember(request, result, "claim")

    def _check_claim(self, request: ClaimRequest, result: Any) -> None:
        assert (result.coupon is not None) == (result.outcome is Outcome.OK)
        if result.coupon is None:
            return
        coupon = result.coupon
        assert coupon.customer_id == request.customer_id and coupon.claimed_s == self.now_s
        assert coupon.valid_until_s > self.now_s
        value = self.spec.value
        if isinstance(value, RandomAmount):
            assert coupon.value_fen <= value.max_fen
        else:
            assert coupon.value_fen == value.max_fen
        self.engine.store.coupon(coupon.coupon_id)  # acknowledged -> stored (invariant 6)
        self.model.claims.append((request, coupon))
        self.coupon_ids.append(coupon.coupon_id)

    @rule(
        people=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4)), min_size=2, max_size=6),
    )
    def claim_burst(self, people: list[tuple[int, int]]) -> None:
        """Several claims at the same instant (a flash-sale opening)."""
        for customer, card in people:
            self.claim(customer, card, customer % 4, customer % 3, "new")

    @precondition(lambda self: self.coupon_ids)
    @rule(
        data=st.data(),
        as_owner=st.integers(0, 3).map(bool),
        amounts=st.lists(
            st.tuples(st.integers(0, 30_000), st.sampled_from(ITEMS)), min_size=1, max_size=5
        ),
        covered=st.integers(0, 3).map(lambda n: n == 0),
    )
    def redeem(
        self, data: st.DataObject, as_owner: bool, amounts: list[tuple[int, str]], covered: bool
    ) -> None:
        """A redemption; with ``covered``, of an order the coupon can pay entirely (its value,
        in scope: paid 0 unless a threshold or a percentage stands in the way)."""
        coupon_id = data.draw(st.sampled_from(self.coupon_ids), label="coupon")
        coupon = self.engine.store.coupon(coupon_id)
        if covered:
            half = coupon.value_fen // 2
            amounts = [(half, "milk"), (coupon.value_fen - half, "rice")]
        customer = coupon.customer_id if as_owner else "intruder"
        lines = tuple(OrderLine(f"l{i}", a, item) for i, (a, item) in enumerate(amounts))
        request = RedemptionRequest(self._id("pay"), coupon_id, customer, lines)
        expected, discount = self._expected_redemption(request)
        result = self.engine.redeem(request, self.now_s)
        self._remember(request, result, "redeem")
        assert result.outcome is expected, (result, expected)
        if result.outcome is not Outcome.OK:
            return
        redemption = result.redemption
        assert redemption is not None and redemption.discount_fen == discount
        assert coupon_id not in self.redeemed_by  # at most once until a return
        self.redeemed_by[coupon_id] = redemption.redemption_id
        self.orders[redemption.redemption_id] = request
        self.redemption_ids.append(redemption.redemption_id)

    def _expected_redemption(self, request: RedemptionRequest) -> tuple[Outcome, int]:
        """The outcome (and discount) the documented checks give, in their order."""
        coupon = self.engine.store.coupon(request.coupon_id)
        if request.customer_id != coupon.customer_id:
            return Outcome.NOT_OWNER, 0
        if coupon.state is CouponState.REDEEMED:
            return Outcome.ALREADY_REDEEMED, 0
        if coupon.state is CouponState.EXPIRED or self.now_s >= coupon.valid_until_s:
            return Outcome.EXPIRED, 0
        scope = self.spec.scope
        eligible = sum(x.amount_fen for x in request.lines if scope.covers(x.item_id, x.category))
        if eligible <= 0:
            return Outcome.NOT_APPLICABLE, 0
        discount = expected_discount(self.spec, coupon.value_fen, eligible)
        return (Outcome.OK, discount) if discount > 0 else (Outcome.BELOW_THRESHOLD, 0)

    @precondition(lambda self: self.redemption_ids)
    @rule(data=st.data(), share=st.floats(0.01, 1.0), full=st.booleans())
    def refund(self, data: st.DataObject, share: float, full: bool) -> None:
        redemption_id = data.draw(st.sampled_from(self.redemption_ids), label="redemption")
        redemption = self.engine.store.redemption(redemption_id)
        left = redemption.paid_fen - redemption.refunded_fen
        # an order the coupon paid entirely (paid 0) has one refund, of 0 fen: a full one
        amount = left if full or redemption.paid_fen == 0 else max(1, int(left * share))
        if amount <= 0 and redemption.paid_fen > 0:
            return
        coupon = self.engine.store.coupon(redemption.coupon_id)
        available_fen = self.engine.status("friday").available_fen
        request = RefundRequest(self._id("refund"), redemption_id, amount)
        result = self.engine.refund(request, self.now_s)
        self._remember(request, result, "refund")
        fully_refunded = redemption.returned or (
            redemption.refunded_fen == redemption.paid_fen
            and redemption.clawed_back_fen == redemption.discount_fen
        )
        if fully_refunded or amount > left:
            assert result.outcome is Outcome.REFUND_EXCEEDS_PAID
            return
        assert result.outcome is Outcome.OK
        topup = coupon.value_fen - redemption.discount_fen + redemption.clawed_back_fen
        returns = (
            self.spec.refund_policy is RefundPolicy.RETURN_IF_VALID
            and amount == left
            and self.now_s < coupon.valid_until_s
            and topup <= available_fen
        )
        assert result.coupon_returned == returns
        if returns:
            del self.redeemed_by[redemption.coupon_id]
            return
        # WeChat Pay's rule on the cumulative refund: refund x discount / paid, half up.
        after = result.redemption
        assert after is not None
        if after.refunded_fen == after.paid_fen:  # a full refund (of 0 fen when paid 0)
            assert after.clawed_back_fen == after.discount_fen
        else:
            exact = Fraction(after.refunded_fen * after.discount_fen, after.paid_fen)
            assert after.clawed_back_fen == math.floor(exact + Fraction(1, 2))
        assert result.clawed_back_fen == after.clawed_back_fen - redemption.clawed_back_fen

    @precondition(lambda self: self.now_s > self.expired_until_s)  # once per clock position
    @rule()
    def expire(self) -> None:
        due = [
            c
            for c in self.engine.store.coupons("friday")
            if c.state is CouponState.ISSUED and c.valid_until_s <= self.now_s
        ]
        with pytest.raises(InvalidDefinition, match="until_s"):  # coupons valid now stay so
            self.engine.expire(ExpiryRequest(self._id("expire"), self.now_s + 1), self.now_s)
        self.expired_until_s = self.now_s
        request = ExpiryRequest(self._id("expire"), self.now_s)
        result = self.engine.expire(request, self.now_s)
        self._remember(request, result, "expire")
        assert result.expired_coupons == len(due)
        assert result.released_fen == sum(c.value_fen for c in due)

    @rule(seconds=st.sampled_from([1, 59, 600, 3600, 6 * 3600]))
    def advance(self, seconds: int) -> None:
        self.now_s += seconds

    @rule(seconds=st.sampled_from([DAY_S - 1, DAY_S, 3 * DAY_S, 7 * DAY_S]))
    def jump(self, seconds: int) -> None:
        """A clock jump of days: validity ends, daily and weekly periods turn, Fridays recur."""
        self.now_s += seconds

    @rule(delta=st.integers(-60_000, 30_000), stale=st.integers(0, 3).map(lambda n: n == 0))
    def adjust_budget(self, delta: int, stale: bool) -> None:
        before = self.engine.status("friday")
        expected = before.budget_fen + 1 if stale else before.budget_fen
        new_budget = max(0, before.budget_fen + delta)
        request = BudgetAdjustment(self._id("budget"), "friday", expected, new_budget)
        result = self.engine.adjust_budget(request, self.now_s)
        self._remember(request, result, "budget")
        if stale:
            assert result.outcome is Outcome.BUDGET_CHANGED
        elif new_budget < before.reserved_fen + before.spent_fen:
            assert result.outcome is Outcome.BUDGET_BELOW_COMMITTED
        else:
            assert result.outcome is Outcome.OK
        assert self.engine.status("friday").budget_fen == result.budget_fen

    @rule()
    def freeze_budget(self) -> None:
        """Lower the budget to exactly what is committed: nothing left to claim or top up."""
        before = self.engine.status("friday")
        committed = before.reserved_fen + before.spent_fen
        request = BudgetAdjustment(self._id("budget"), "friday", before.budget_fen, committed)
        result = self.engine.adjust_budget(request, self.now_s)
        self._remember(request, result, "budget")
        assert (result.outcome, result.budget_fen) == (Outcome.OK, committed)
        assert self.engine.status("friday").available_fen == 0

    @precondition(lambda self: self.outcomes)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.outcomes)), label="request id")
        request, first, op = self.outcomes[request_id]
        assert self._call(op, request) == first
        other_op, other = self._altered(op, request)
        try:
            self._call(other_op, other)
        except RequestConflict as conflict:
            assert conflict.request_id == request_id
        else:
            raise AssertionError(f"{other} under a used id was accepted")

    def _call(self, op: str, request: Any) -> Any:
        engine, now_s = self.engine, self.now_s
        if op == "claim":
            return engine.claim(request, now_s)
        if op == "redeem":
            return engine.redeem(request, now_s)
        if op == "refund":
            return engine.refund(request, now_s)
        if op == "expire":
            return engine.expire(request, now_s)
        if op == "create":
            return engine.create_stock(request.spec, request.request_id, now_s)
        return engine.adjust_budget(request, now_s)

    @staticmethod
    def _altered(op: str, request: Any) -> tuple[str, Any]:
        """Another request of the same scope (stock) under ``request``'s id, and its op."""
        if isinstance(request, ClaimRequest):
            return op, request._replace(card=request.card + "'")
        if isinstance(request, RedemptionRequest):
            return op, request._replace(customer_id=request.customer_id + "'")
        if isinstance(request, RefundRequest):
            return op, request._replace(amount_fen=request.amount_fen + 1)
        if isinstance(request, ExpiryRequest):
            return op, request._replace(until_s=request.until_s + 1)
        if isinstance(request, StockCreation):  # a claim of the stock under the creation's id
            return "claim", ClaimRequest(request.request_id, request.spec.stock_id, "someone")
        return op, request._replace(new_budget_fen=request.new_budget_fen + 1)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def quota_and_limits(self) -> None:
        """Invariant 1, on the store's own record of issued claims and its limit counters."""
        spec, store, model = self.spec, self.engine.store, self.model
        claims = list(store.issued_claims("friday"))
        assert len(claims) <= spec.quota
        per_day = Counter(model.local(c.claimed_s).date() for _, c in claims)
        value_per_day = Counter[object]()
        for _, coupon in claims:
            value_per_day[model.local(coupon.claimed_s).date()] += coupon.value_fen
        if spec.daily_quota is not None:
            assert max(per_day.values(), default=0) <= spec.daily_quota
        if spec.daily_budget_fen is not None:
            assert max(value_per_day.values(), default=0) <= spec.daily_budget_fen
        usage = store.limit_usage("friday")
        for index, limit in enumerate(spec.limits):
            recount = Counter(model.limit_key(limit, r, c.claimed_s) for r, c in claims)
            assert max(recount.values(), default=0) <= limit.count, (limit, recount)
            stored = sorted(count for key, count in usage.items() if key[1] == index)
            assert stored == sorted(recount.values()), (limit, usage, recount)

    @invariant()
    def accounts(self) -> None:
        """Invariant 2."""
        status = self.engine.status("friday")
        accounts = (status.available_fen, status.reserved_fen, status.spent_fen)
        assert min(accounts) >= 0
        assert sum(accounts) == status.budget_fen

    @invariant()
    def one_outcome_per_request(self) -> None:
        """Invariant 3: the store still holds every first outcome, unchanged."""
        store = self.engine.store
        for request, first, _ in self.outcomes.values():
            assert store.prior(request) == first

    @invariant()
    def coupons_are_consistent(self) -> None:
        """Invariants 4 and 6."""
        coupons = list(self.engine.store.coupons("friday"))
        ids = [c.coupon_id for c in coupons]
        assert len(ids) == len(set(ids))
        acknowledged = {c.coupon_id: c for _, c in self.model.claims}
        assert acknowledged.keys() == set(ids)  # no claim lost, none invented
        for coupon in coupons:
            assert coupon[:6] == acknowledged[coupon.coupon_id][:6]  # owner, value, times
            redeemed = coupon.state is CouponState.REDEEMED
            assert redeemed == (coupon.coupon_id in self.redeemed_by)
            if coupon.state is CouponState.ISSUED:
                assert coupon.valid_until_s > self.expired_until_s

    @invariant()
    def redemptions_are_consistent(self) -> None:
        """Invariant 5, for every redemption so far (refunds included)."""
        scope = self.spec.scope
        for redemption_id, order in self.orders.items():
            redemption = self.engine.store.redemption(redemption_id)
            shares = dict(redemption.line_discounts)
            eligible = sum(x.amount_fen for x in order.lines if scope.covers(x.item_id, x.category))
            assert sum(shares.values()) == redemption.discount_fen <= eligible
            assert redemption.paid_fen == order.total_fen - redemption.discount_fen
            assert 0 <= redemption.clawed_back_fen <= redemption.discount_fen
            assert 0 <= redemption.refunded_fen <= redemption.paid_fen
            for line in order.lines:
                assert 0 <= shares[line.line_id] <= line.amount_fen
                if not scope.covers(line.item_id, line.category):
                    assert shares[line.line_id] == 0

    @invariant()
    def reconciles(self) -> None:
        """Invariant 7."""
        check = self.engine.reconcile("friday")
        assert check.ok, check.mismatches


EngineMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_engine_state_machine = EngineMachine.TestCase
