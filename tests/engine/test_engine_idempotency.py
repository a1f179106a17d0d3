"""Idempotency: the same request id and payload returns the first outcome, rejections included,
whatever changed since; the same id with another payload raises RequestConflict. Request ids
are scoped per stock: the same id in another stock is another request."""

from __future__ import annotations

import pytest
from engine_kit import FRIDAY, FRIDAY_10, WEEK_S, claim_request, open_stock, order, stock

from engine import (
    BudgetAdjustment,
    ClaimRequest,
    ExpiryRequest,
    Outcome,
    RefundRequest,
    RequestConflict,
    Voucher,
)

LATER = FRIDAY_10 + 3600


def test_claim_replay_returns_the_same_coupon_and_issues_nothing() -> None:
    engine = open_stock()
    request = claim_request("a")
    first = engine.claim(request, FRIDAY_10)
    again = engine.claim(request, FRIDAY_10 + WEEK_S)
    assert again == first and again.coupon is not None
    assert engine.status("friday").issued == 1


def test_rejection_replays_even_after_the_cause_is_gone() -> None:
    engine = open_stock()
    request = claim_request("a")
    closed = engine.claim(request, FRIDAY_10 - 1)
    assert closed.outcome is Outcome.NOT_OPEN
    assert engine.claim(request, FRIDAY_10 + 60) == closed  # the window is open now


def test_limit_rejection_replays() -> None:
    engine = open_stock()
    engine.claim(claim_request("a", card="k"), FRIDAY_10)
    rejected = engine.claim(claim_request("b", card="k"), FRIDAY_10)
    assert rejected.outcome is Outcome.LIMIT_REACHED
    assert engine.claim(claim_request("b", card="k"), FRIDAY_10 + WEEK_S) == rejected


@pytest.mark.parametrize(
    "other",
    [
        claim_request("a", card="another-card"),
        claim_request("a", customer_id="someone-else"),
        claim_request("a", is_new_customer=True),
    ],
)
def test_same_id_other_claim_conflicts(other: ClaimRequest) -> None:
    engine = open_stock()
    engine.claim(claim_request("a"), FRIDAY_10)
    with pytest.raises(RequestConflict) as caught:
        engine.claim(other, FRIDAY_10)
    assert caught.value.request_id == "claim-a"
    assert engine.status("friday").issued == 1


def test_the_same_id_in_another_stock_is_another_request() -> None:
    """Every operation of a stock (claims, its creation, budget adjustments; redemptions and
    refunds of its coupons) shares one id space per stock; another stock has its own."""
    engine = open_stock()
    engine.create_stock(stock(stock_id="saturday"), "create-friday", FRIDAY)  # friday's id
    friday = engine.claim(claim_request("a"), FRIDAY_10)
    saturday = engine.claim(claim_request("a", stock_id="saturday"), FRIDAY_10)
    assert friday.coupon is not None and saturday.coupon is not None
    assert saturday.coupon.coupon_id == "saturday.1"
    budget = BudgetAdjustment("claim-a", "saturday", 50_000 * 5000, 50_000 * 5001)
    with pytest.raises(RequestConflict):
        engine.adjust_budget(budget, LATER)  # saturday's own claim holds that id
    assert engine.adjust_budget(budget._replace(request_id="b"), LATER).outcome is Outcome.OK
    assert engine.adjust_budget(budget._replace(stock_id="friday", request_id="b",
                                                new_budget_fen=1), LATER).outcome is (
        Outcome.BUDGET_BELOW_COMMITTED
    )  # fmt: skip
    assert (engine.status("friday").issued, engine.status("saturday").issued) == (1, 1)


def test_conflict_also_for_a_first_rejection() -> None:
    engine = open_stock()
    engine.claim(claim_request("a"), FRIDAY_10 - 1)  # not open: recorded
    with pytest.raises(RequestConflict):
        engine.claim(claim_request("a", card="x"), FRIDAY_10)


def test_ids_are_shared_across_operation_kinds() -> None:
    engine = open_stock()
    coupon = engine.claim(claim_request("a"), FRIDAY_10).coupon
    assert coupon is not None
    with pytest.raises(RequestConflict):
        engine.redeem(order("claim-a", coupon.coupon_id, "ua", 30_000), LATER)


def test_redemption_refund_expiry_budget_replays() -> None:
    engine = open_stock(stock(value=Voucher(1000), budget_fen=10**6))
    coupon = engine.claim(claim_request("a"), FRIDAY_10).coupon
    assert coupon is not None
    pay = order("p", coupon.coupon_id, "ua", 10_000)
    paid = engine.redeem(pay, LATER)
    assert engine.redeem(pay, LATER + 60) == paid
    with pytest.raises(RequestConflict):
        engine.redeem(order("p", coupon.coupon_id, "ua", 10_001), LATER)
    assert paid.redemption is not None
    refund = RefundRequest("f", paid.redemption.redemption_id, 3000)
    refunded = engine.refund(refund, LATER)
    assert engine.refund(refund, LATER) == refunded
    with pytest.raises(RequestConflict):
        engine.refund(RefundRequest("f", paid.redemption.redemption_id, 3001), LATER)
    adjust = BudgetAdjustment("b", "friday", 10**6, 2 * 10**6)
    adjusted = engine.adjust_budget(adjust, LATER)
    assert engine.adjust_budget(adjust, LATER) == adjusted  # not a CAS failure on replay
    expiry = ExpiryRequest("e", LATER)
    assert engine.expire(expiry, LATER) == engine.expire(expiry, LATER + 9)
    with pytest.raises(RequestConflict):
        engine.expire(ExpiryRequest("e", LATER + 1), LATER + 1)
    status = engine.status("friday")
    assert (status.budget_fen, status.spent_fen) == (2 * 10**6, 1000 - 333)
    check = engine.reconcile("friday")
    assert check.ok, check.mismatches
