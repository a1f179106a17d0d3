"""Reconciliation (对账) replays the ledger from empty: it passes on an honest store and names
what is wrong when counters, entries or coupons were tampered with."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from engine_kit import FRIDAY_10, claim_request, open_stock, order, stock

from engine import (
    Coupon,
    CouponState,
    Engine,
    ExpiryRequest,
    LedgerEntry,
    Movement,
    RandomAmount,
    RefundRequest,
    StockStatus,
    Tier,
)
from engine.ledger import reconcile, replay

LATER = FRIDAY_10 + 3600
LUCKY = RandomAmount(tiers=(Tier(188, 5), Tier(888, 3), Tier(1888, 2)))


def _busy_engine() -> Engine:
    """A random stock after claims, redemptions, a partial refund and an expiry run."""
    engine = open_stock(stock(value=LUCKY, budget_fen=10**6, limits=()), seed=3)
    coupons = [engine.claim(claim_request(i), FRIDAY_10).coupon for i in range(8)]
    assert all(coupons)
    for i, (coupon, amount_fen) in enumerate(
        zip(coupons, (30_000, 150, 30_000, 100), strict=False)
    ):
        assert coupon is not None
        paid = engine.redeem(order(f"p{i}", coupon.coupon_id, f"u{i}", amount_fen), LATER)
        assert paid.redemption is not None
    engine.refund(RefundRequest("f0", "r-p0", 10_000), LATER)
    assert coupons[7] is not None
    engine.expire(ExpiryRequest("e", coupons[7].valid_until_s), coupons[7].valid_until_s)
    return engine


def _parts(engine: Engine) -> tuple[StockStatus, list[LedgerEntry], list[Coupon]]:
    store = engine.store
    return store.status("friday"), list(store.ledger("friday")), list(store.coupons("friday"))


def test_an_honest_store_reconciles_and_replay_reproduces_every_counter() -> None:
    engine = _busy_engine()
    status, entries, coupons = _parts(engine)
    replayed, count = replay("friday", entries)
    assert replayed == status
    assert count == len(entries)
    assert reconcile(status, entries, coupons).ok
    assert engine.reconcile("friday").ok
    assert {c.state for c in coupons} == {CouponState.REDEEMED, CouponState.EXPIRED}


def _drop_release(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    return [e for e in entries if e.movement is not Movement.RELEASE_UNUSED]


def _inflate_a_claim(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    first = next(i for i, e in enumerate(entries) if e.movement is Movement.CLAIM)
    changed = entries[first]._replace(amount_fen=entries[first].amount_fen + 1)
    return [*entries[:first], changed, *entries[first + 1 :]]


def _swap_claimed_coupons(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """Two claims of different amounts with their coupon ids swapped: every total still
    matches, only the coupon-by-coupon replay can see it."""
    claims = [i for i, e in enumerate(entries) if e.movement is Movement.CLAIM]
    a = next(i for i in claims if entries[i].amount_fen != entries[claims[0]].amount_fen)
    b = claims[0]
    swapped = list(entries)
    swapped[a] = entries[a]._replace(coupon_id=entries[b].coupon_id)
    swapped[b] = entries[b]._replace(coupon_id=entries[a].coupon_id)
    return swapped


def _zero_entry(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    return [*entries, entries[-1]._replace(amount_fen=0, request_id="bogus")]


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (_drop_release, "available"),
        (_inflate_a_claim, "reserved"),
        (_swap_claimed_coupons, "claim entries"),
        (_zero_entry, "entry bogus moves 0 fen"),
    ],
)
def test_tampered_entries_are_named(
    tamper: Callable[[list[LedgerEntry]], list[LedgerEntry]], named: str
) -> None:
    status, entries, coupons = _parts(_busy_engine())
    check = reconcile(status, tamper(entries), coupons)
    assert not check.ok
    assert any(named in problem for problem in check.mismatches), check.mismatches


@pytest.mark.parametrize(
    ("field", "delta"), [("issued", 1), ("redeemed", -1), ("spent_fen", 5), ("budget_fen", 1)]
)
def test_tampered_counters_are_named(field: str, delta: int) -> None:
    status, entries, coupons = _parts(_busy_engine())
    tampered = status._replace(**{field: getattr(status, field) + delta})
    check = reconcile(tampered, entries, coupons)
    assert not check.ok
    assert any(problem.startswith(f"{field}: stored") for problem in check.mismatches)


def test_a_coupon_state_without_its_entries_is_named() -> None:
    """An expired and a redeemed coupon with their states swapped: the counts per state and the
    reserved account still match, only the coupon's own entries tell."""
    status, entries, coupons = _parts(_busy_engine())
    expired = next(i for i, c in enumerate(coupons) if c.state is CouponState.EXPIRED)
    redeemed = next(i for i, c in enumerate(coupons) if c.state is CouponState.REDEEMED)
    swapped = list(coupons)
    swapped[expired] = coupons[expired]._replace(state=CouponState.REDEEMED)
    swapped[redeemed] = coupons[redeemed]._replace(state=CouponState.EXPIRED)
    check = reconcile(status, entries, swapped)
    assert not check.ok
    assert any("its entries say" in problem for problem in check.mismatches), check.mismatches


def test_entries_of_an_unknown_coupon_are_named() -> None:
    status, entries, coupons = _parts(_busy_engine())
    check = reconcile(status, entries, coupons[1:])
    assert any("unknown coupon" in problem for problem in check.mismatches), check.mismatches
