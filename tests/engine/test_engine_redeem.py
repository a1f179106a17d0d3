"""Redemptions, refunds, expiry and budget adjustment: outcomes, allocation and the exact ledger
movements of each operation."""

from __future__ import annotations

import pytest
from engine_kit import DAY_S, FRIDAY_10, claim_request, open_stock, order, stock

from engine import (
    BudgetAdjustment,
    Coupon,
    CouponState,
    Discount,
    Engine,
    ExpiryRequest,
    InvalidDefinition,
    Movement,
    OrderLine,
    Outcome,
    RedemptionRequest,
    RefundPolicy,
    RefundRequest,
    ReviewPolicy,
    Scope,
    UnknownCoupon,
    UnknownStock,
    Voucher,
)
from engine.money import clawback_fen
from engine.risk_gate import Action, RiskVerdict

LATER = FRIDAY_10 + 3600


def _coupon(engine: Engine, who: str = "a", stock_id: str = "friday") -> Coupon:
    result = engine.claim(claim_request(who, stock_id), FRIDAY_10)
    assert result.coupon is not None, result
    return result.coupon


def _movements(engine: Engine, request_id: str) -> list[tuple[Movement, int]]:
    return [
        (e.movement, e.amount_fen)
        for e in engine.store.ledger("friday")
        if e.request_id == request_id
    ]


def _check(engine: Engine) -> None:
    check = engine.reconcile("friday")
    assert check.ok, check.mismatches


# -- allocation -----------------------------------------------------------------------------


def test_three_ten_yuan_lines_and_a_ten_yuan_coupon_allocate_334_333_333() -> None:
    engine = open_stock(stock(value=Voucher(1000), budget_fen=10**6))
    coupon = _coupon(engine)
    result = engine.redeem(order("p", coupon.coupon_id, "ua", 1000, 1000, 1000), LATER)
    assert result.outcome is Outcome.OK and result.redemption is not None
    assert result.redemption.line_discounts == (("l0", 334), ("l1", 333), ("l2", 333))
    assert result.redemption.discount_fen == 1000
    assert result.redemption.paid_fen == 2000
    _check(engine)


def test_item_scope_allocates_only_over_lines_in_scope() -> None:
    spec = stock(value=Voucher(1000), budget_fen=10**6, scope=Scope(items=frozenset({"milk"})))
    engine = open_stock(spec)
    coupon = _coupon(engine)
    lines = (OrderLine("a", 600, "milk"), OrderLine("b", 5000, "tv"), OrderLine("c", 300, "milk"))
    result = engine.redeem(RedemptionRequest("p", coupon.coupon_id, "ua", lines), LATER)
    assert result.redemption is not None
    # The discount is capped by the eligible amount (900), and the TV line gets nothing.
    assert result.redemption.line_discounts == (("a", 600), ("b", 0), ("c", 300))
    assert result.redemption.paid_fen == 5000


def test_category_scope() -> None:
    spec = stock(value=Voucher(100), budget_fen=10**6, scope=Scope(categories=frozenset({"food"})))
    engine = open_stock(spec)
    coupon = _coupon(engine)
    lines = (OrderLine("a", 500, "x", "food"), OrderLine("b", 500, "y", "toys"))
    result = engine.redeem(RedemptionRequest("p", coupon.coupon_id, "ua", lines), LATER)
    assert result.redemption is not None
    assert result.redemption.line_discounts == (("a", 100), ("b", 0))


def test_percent_discount_is_capped_and_rounded_down() -> None:
    engine = open_stock(stock(value=Discount(20, 3000), budget_fen=10**6))
    small = engine.redeem(order("p1", _coupon(engine, "a").coupon_id, "ua", 9_999), LATER)
    large = engine.redeem(order("p2", _coupon(engine, "b").coupon_id, "ub", 50_000), LATER)
    assert small.redemption is not None and small.redemption.discount_fen == 1999
    assert large.redemption is not None and large.redemption.discount_fen == 3000


# -- redemption outcomes ---------------------------------------------------------------------


def test_redemption_outcomes() -> None:
    engine = open_stock()
    coupon = _coupon(engine)
    cid = coupon.coupon_id
    assert (
        engine.redeem(order("x1", cid, "someone-else", 30_000), LATER).outcome is Outcome.NOT_OWNER
    )
    assert engine.redeem(order("x2", cid, "ua", 19_999), LATER).outcome is Outcome.BELOW_THRESHOLD
    assert engine.redeem(order("x3", cid, "ua", 20_000), LATER).outcome is Outcome.OK
    assert engine.redeem(order("x4", cid, "ua", 30_000), LATER).outcome is Outcome.ALREADY_REDEEMED
    late = coupon.valid_until_s
    other = _coupon(engine, "b")
    assert (
        engine.redeem(order("x5", other.coupon_id, "ub", 30_000), late).outcome is Outcome.EXPIRED
    )
    assert engine.store.coupon(other.coupon_id).state is CouponState.ISSUED  # until expire()
    _check(engine)


def test_not_applicable_when_no_line_is_in_scope() -> None:
    engine = open_stock(stock(scope=Scope(items=frozenset({"milk"}))))
    coupon = _coupon(engine)
    result = engine.redeem(order("p", coupon.coupon_id, "ua", 30_000), LATER)
    assert result.outcome is Outcome.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ((), "lines"),
        ((OrderLine("a", -1),), "lines.amount_fen"),
        ((OrderLine("a", 1.5),), "lines.amount_fen"),  # type: ignore[arg-type]
        ((OrderLine("a", True),), "lines.amount_fen"),
        ((OrderLine("a", 1), OrderLine("a", 2)), "lines.line_id"),
    ],
)
def test_malformed_orders_are_caller_errors(lines: tuple[OrderLine, ...], field: str) -> None:
    engine = open_stock()
    coupon = _coupon(engine)
    with pytest.raises(InvalidDefinition) as caught:
        engine.redeem(RedemptionRequest("p", coupon.coupon_id, "ua", lines), LATER)
    assert caught.value.field == field


def test_unknown_ids() -> None:
    engine = open_stock()
    with pytest.raises(UnknownCoupon):
        engine.redeem(order("p", "nope", "ua", 100), LATER)
    with pytest.raises(UnknownStock):
        engine.claim(claim_request("a", "nope"), LATER)
    with pytest.raises(UnknownCoupon):
        engine.refund(RefundRequest("f", "r-nope", 1), LATER)


# -- ledger movements ------------------------------------------------------------------------


def test_claim_and_redeem_movements() -> None:
    engine = open_stock(stock(value=Discount(20, 3000), budget_fen=10**6))
    coupon = _coupon(engine)
    assert _movements(engine, "claim-a") == [(Movement.CLAIM, 3000)]
    engine.redeem(order("p", coupon.coupon_id, "ua", 10_000), LATER)
    assert _movements(engine, "p") == [(Movement.REDEEM, 2000), (Movement.RELEASE_UNUSED, 1000)]
    status = engine.status("friday")
    assert (status.available_fen, status.reserved_fen, status.spent_fen) == (10**6 - 2000, 0, 2000)
    _check(engine)


def test_wechat_partial_refunds_claw_back_pro_rata_half_up() -> None:
    """Order 100 yuan, coupon 10 yuan: paid 90. Refunds of 30, 45 and 15 yuan claw back
    round_half_up(cumulative refund x 10 / 90) each time: 333, then 833 - 333, then the rest."""
    engine = open_stock(stock(value=Voucher(1000), budget_fen=10**6))
    coupon = _coupon(engine)
    redemption = engine.redeem(order("p", coupon.coupon_id, "ua", 10_000), LATER).redemption
    assert redemption is not None and redemption.paid_fen == 9000
    clawed = []
    for index, amount in enumerate((3000, 4500, 1500)):
        result = engine.refund(RefundRequest(f"f{index}", redemption.redemption_id, amount), LATER)
        assert result.outcome is Outcome.OK and not result.coupon_returned
        clawed.append(result.clawed_back_fen)
        assert _movements(engine, f"f{index}") == [(Movement.CLAWBACK, result.clawed_back_fen)]
    assert clawed == [333, 500, 167]
    assert engine.status("friday").spent_fen == 0
    assert engine.store.coupon(coupon.coupon_id).state is CouponState.REDEEMED  # forfeit
    _check(engine)


def test_clawback_rounds_half_up_not_to_even() -> None:
    assert clawback_fen(20, 1000, 8000) == 3  # 2.5 -> 3 (banker's rounding would give 2)
    assert clawback_fen(12, 1000, 8000) == 2  # 1.5 -> 2
    assert clawback_fen(4, 1000, 8000) == 1  # 0.5 -> 1
    assert clawback_fen(3, 1000, 8000) == 0  # 0.375 -> 0
    assert clawback_fen(8000, 1000, 8000) == 1000


def test_refund_beyond_paid_is_refused() -> None:
    engine = open_stock(stock(value=Voucher(1000), budget_fen=10**6))
    redemption = engine.redeem(
        order("p", _coupon(engine).coupon_id, "ua", 10_000), LATER
    ).redemption
    assert redemption is not None
    assert engine.refund(RefundRequest("f1", redemption.redemption_id, 9001), LATER).outcome is (
        Outcome.REFUND_EXCEEDS_PAID
    )
    assert (
        engine.refund(RefundRequest("f2", redemption.redemption_id, 9000), LATER).outcome
        is Outcome.OK
    )
    assert engine.refund(RefundRequest("f3", redemption.redemption_id, 1), LATER).outcome is (
        Outcome.REFUND_EXCEEDS_PAID
    )
    with pytest.raises(InvalidDefinition, match="amount_fen"):
        engine.refund(RefundRequest("f4", redemption.redemption_id, 0), LATER)


def test_return_if_valid_returns_the_coupon_on_a_full_refund() -> None:
    spec = stock(
        value=Discount(20, 3000), budget_fen=10**6, refund_policy=RefundPolicy.RETURN_IF_VALID
    )
    engine = open_stock(spec)
    coupon = _coupon(engine)
    redemption = engine.redeem(order("p", coupon.coupon_id, "ua", 10_000), LATER).redemption
    assert redemption is not None and redemption.discount_fen == 2000
    partial = engine.refund(RefundRequest("f1", redemption.redemption_id, 4000), LATER)
    assert (partial.clawed_back_fen, partial.coupon_returned) == (1000, False)
    full = engine.refund(RefundRequest("f2", redemption.redemption_id, 4000), LATER)
    assert full.outcome is Outcome.OK and full.coupon_returned
    # The discount still spent (1000) goes back to reserved, and the rest of the coupon's value
    # (3000 - 2000 + 1000 clawed back) is topped up from available.
    assert _movements(engine, "f2") == [(Movement.RETURN, 1000), (Movement.RETURN_TOPUP, 2000)]
    status = engine.status("friday")
    assert (status.reserved_fen, status.spent_fen, status.redeemed) == (3000, 0, 0)
    assert engine.store.coupon(coupon.coupon_id).state is CouponState.ISSUED
    _check(engine)
    again = engine.redeem(order("p2", coupon.coupon_id, "ua", 20_000), LATER)
    assert again.outcome is Outcome.OK
    _check(engine)


def test_return_after_partial_refunds_that_clawed_everything_still_reconciles() -> None:
    """A 1-fen discount is fully clawed back by a 99% refund; the final full refund then moves
    nothing out of spent, only the top-up — replay must still count the return."""
    spec = stock(value=Voucher(1), budget_fen=10**6, refund_policy=RefundPolicy.RETURN_IF_VALID)
    engine = open_stock(spec)
    coupon = _coupon(engine)
    redemption = engine.redeem(order("p", coupon.coupon_id, "ua", 101), LATER).redemption
    assert redemption is not None and redemption.paid_fen == 100
    assert (
        engine.refund(RefundRequest("f1", redemption.redemption_id, 99), LATER).clawed_back_fen == 1
    )
    full = engine.refund(RefundRequest("f2", redemption.redemption_id, 1), LATER)
    assert full.coupon_returned
    assert _movements(engine, "f2") == [(Movement.RETURN_TOPUP, 1)]
    _check(engine)


def test_return_if_valid_forfeits_after_validity() -> None:
    spec = stock(value=Voucher(1000), budget_fen=10**6, refund_policy=RefundPolicy.RETURN_IF_VALID)
    engine = open_stock(spec)
    coupon = _coupon(engine)
    redemption = engine.redeem(order("p", coupon.coupon_id, "ua", 10_000), LATER).redemption
    assert redemption is not None
    result = engine.refund(RefundRequest("f", redemption.redemption_id, 9000), coupon.valid_until_s)
    assert (result.clawed_back_fen, result.coupon_returned) == (1000, False)
    assert engine.store.coupon(coupon.coupon_id).state is CouponState.REDEEMED
    _check(engine)


def test_forfeit_never_returns_the_coupon() -> None:
    engine = open_stock(stock(value=Voucher(1000), budget_fen=10**6))
    coupon = _coupon(engine)
    redemption = engine.redeem(order("p", coupon.coupon_id, "ua", 10_000), LATER).redemption
    assert redemption is not None
    result = engine.refund(RefundRequest("f", redemption.redemption_id, 9000), LATER)
    assert (result.clawed_back_fen, result.coupon_returned) == (1000, False)
    assert engine.status("friday").redeemed == 1  # the use still counts
    _check(engine)


def test_return_falls_back_to_clawback_when_the_budget_cannot_cover_the_topup() -> None:
    spec = stock(
        value=Discount(20, 3000), budget_fen=10**6, refund_policy=RefundPolicy.RETURN_IF_VALID
    )
    engine = open_stock(spec)
    coupon = _coupon(engine)
    redemption = engine.redeem(order("p", coupon.coupon_id, "ua", 10_000), LATER).redemption
    assert redemption is not None
    budget = engine.adjust_budget(BudgetAdjustment("b", "friday", 10**6, 2000), LATER)
    assert budget.outcome is Outcome.OK and engine.status("friday").available_fen == 0
    result = engine.refund(RefundRequest("f", redemption.redemption_id, 8000), LATER)
    assert (result.clawed_back_fen, result.coupon_returned) == (2000, False)
    _check(engine)


# -- expiry and budget -----------------------------------------------------------------------


def test_expire_releases_reserved_and_blocks_redemption() -> None:
    engine = open_stock()
    first, second = _coupon(engine, "a"), _coupon(engine, "b")
    engine.redeem(order("p", first.coupon_id, "ua", 30_000), LATER)
    result = engine.expire(ExpiryRequest("e1", first.valid_until_s), first.valid_until_s)
    assert (result.expired_coupons, result.released_fen) == (1, 5000)
    assert _movements(engine, "e1") == [(Movement.EXPIRE, 5000)]
    assert engine.store.coupon(second.coupon_id).state is CouponState.EXPIRED
    assert (
        engine.redeem(order("p2", second.coupon_id, "ub", 30_000), LATER).outcome is Outcome.EXPIRED
    )
    assert (
        engine.expire(
            ExpiryRequest("e2", first.valid_until_s + DAY_S), first.valid_until_s + DAY_S
        ).expired_coupons
        == 0
    )
    status = engine.status("friday")
    assert (status.expired, status.reserved_fen) == (1, 0)
    _check(engine)


def test_expire_spares_coupons_still_valid() -> None:
    engine = open_stock()
    coupon = _coupon(engine)
    until_s = coupon.valid_until_s - 1
    assert engine.expire(ExpiryRequest("e", until_s), until_s).expired_coupons == 0
    assert engine.store.coupon(coupon.coupon_id).state is CouponState.ISSUED


def test_budget_compare_and_set() -> None:
    engine = open_stock(stock(budget_fen=100_000))
    _coupon(engine)
    lost = engine.adjust_budget(BudgetAdjustment("b1", "friday", 99_999, 200_000), LATER)
    assert (lost.outcome, lost.budget_fen) == (Outcome.BUDGET_CHANGED, 100_000)
    low = engine.adjust_budget(BudgetAdjustment("b2", "friday", 100_000, 4_999), LATER)
    assert low.outcome is Outcome.BUDGET_BELOW_COMMITTED
    raised = engine.adjust_budget(BudgetAdjustment("b3", "friday", 100_000, 150_000), LATER)
    assert (raised.outcome, raised.budget_fen) == (Outcome.OK, 150_000)
    assert _movements(engine, "b3") == [(Movement.FUND, 50_000)]
    lowered = engine.adjust_budget(BudgetAdjustment("b4", "friday", 150_000, 5000), LATER)
    assert lowered.outcome is Outcome.OK
    assert _movements(engine, "b4") == [(Movement.DEFUND, 145_000)]
    status = engine.status("friday")
    assert (status.budget_fen, status.available_fen, status.reserved_fen) == (5000, 0, 5000)
    assert engine.claim(claim_request("z"), LATER).outcome is Outcome.BUDGET_EXHAUSTED
    with pytest.raises(InvalidDefinition, match="new_budget_fen"):
        engine.adjust_budget(BudgetAdjustment("b5", "friday", 5000, -1), LATER)
    _check(engine)


# -- risk policy -----------------------------------------------------------------------------


class _Risk:
    """A risk gate that answers ``action`` for every claim and redemption."""

    def __init__(self, action: Action) -> None:
        self.action = action

    def assess_claim(
        self, request: object, person_id: str, opened_s: float, now_s: float
    ) -> RiskVerdict:
        return RiskVerdict(self.action, 1.0, ("test: always",))

    def assess_redemption(
        self, request: object, coupon: object, threshold_fen: int, now_s: float
    ) -> RiskVerdict:
        return RiskVerdict(self.action, 1.0, ("test: always",))


@pytest.mark.parametrize(
    ("action", "policy", "outcome", "flagged"),
    [
        (Action.REJECT, ReviewPolicy.PASS_AND_FLAG, Outcome.RISK_REJECTED, False),
        (Action.REVIEW, ReviewPolicy.REJECT, Outcome.RISK_REJECTED, False),
        (Action.REVIEW, ReviewPolicy.PASS_AND_FLAG, Outcome.OK, True),
        (Action.PASS, ReviewPolicy.REJECT, Outcome.OK, False),
    ],
)
def test_risk_verdict_under_review_policy(
    action: Action, policy: ReviewPolicy, outcome: Outcome, flagged: bool
) -> None:
    engine = open_stock(stock(review_policy=policy), risk=_Risk(action))
    result = engine.claim(claim_request("a"), FRIDAY_10)
    assert (result.outcome, result.flagged) == (outcome, flagged)
    if outcome is Outcome.RISK_REJECTED:
        assert result.reasons == ("test: always",)
        assert engine.status("friday").issued == 0


def test_challenge_passes_a_reproducible_share() -> None:
    spec = stock(review_policy=ReviewPolicy.CHALLENGE, challenge_pass_share=0.7, limits=())
    outcomes = []
    for _ in range(2):
        engine = open_stock(spec, risk=_Risk(Action.REVIEW), seed=9)
        outcomes.append([engine.claim(claim_request(i), FRIDAY_10).outcome for i in range(400)])
    assert outcomes[0] == outcomes[1]
    passed = outcomes[0].count(Outcome.OK) / 400
    assert 0.6 < passed < 0.8


def test_risk_rejected_redemption() -> None:
    engine = open_stock(risk=_Risk(Action.PASS))
    coupon = _coupon(engine)
    engine.risk = _Risk(Action.REJECT)
    result = engine.redeem(order("p", coupon.coupon_id, "ua", 30_000), LATER)
    assert result.outcome is Outcome.RISK_REJECTED
    assert engine.store.coupon(coupon.coupon_id).state is CouponState.ISSUED


# -- expiry is tied to the clock --------------------------------------------------------------


def test_expiry_past_the_clock_is_refused_and_expires_nothing() -> None:
    """Expiring "until next week" would expire coupons still valid now: ``until_s`` after the
    clock is a caller error naming the field; the same run once the clock is there works, and a
    replay answers its first outcome whatever the clock says then."""
    engine = open_stock()
    coupon = _coupon(engine)
    later_s = coupon.valid_until_s + 10 * DAY_S
    with pytest.raises(InvalidDefinition) as caught:
        engine.expire(ExpiryRequest("e", later_s), LATER)
    assert (caught.value.field, caught.value.value) == ("until_s", later_s)
    assert "now_s" in caught.value.expected
    assert engine.store.coupon(coupon.coupon_id).state is CouponState.ISSUED
    done = engine.expire(ExpiryRequest("e", later_s), later_s)
    assert done.expired_coupons == 1
    assert engine.expire(ExpiryRequest("e", later_s), LATER) == done  # a replay


# -- a discount that rounds to nothing --------------------------------------------------------


def test_a_discount_rounding_to_0_fen_is_not_applicable_not_below_threshold() -> None:
    """1 % off 99 fen is 0 fen: the coupon gives nothing on that order (not_applicable, it stays
    unused); below_threshold is kept for orders under a real threshold."""
    engine = open_stock(stock(value=Discount(1, 500), limits=()))
    coupon = _coupon(engine)
    result = engine.redeem(order("p", coupon.coupon_id, "ua", 99), LATER)
    assert result.outcome is Outcome.NOT_APPLICABLE
    assert engine.store.coupon(coupon.coupon_id).state is CouponState.ISSUED
    paid = engine.redeem(order("p2", coupon.coupon_id, "ua", 100), LATER)
    assert paid.redemption is not None and paid.redemption.discount_fen == 1
    capped = open_stock(stock(value=Discount(1, 500, threshold_fen=1000), limits=()))
    small = _coupon(capped)
    assert capped.redeem(order("q", small.coupon_id, "ua", 999), LATER).outcome is (
        Outcome.BELOW_THRESHOLD
    )


def test_a_challenge_never_shares_its_draw_with_a_stock_called_challenge() -> None:
    """Prize draws hash (seed, stock id, request id); challenges hash a domain that no stock id
    can be, so a stock named "challenge" draws independently of every challenge."""
    from engine.decide import CHALLENGE_DOMAIN, uniform
    from engine.stock import require_id

    with pytest.raises(InvalidDefinition):
        require_id("stock_id", CHALLENGE_DOMAIN)
    draws = [uniform(3, "challenge", f"r{i}") for i in range(50)]
    assert draws != [uniform(3, CHALLENGE_DOMAIN, f"r{i}") for i in range(50)]
