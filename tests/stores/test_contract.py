"""The store contract, run unchanged against memory, SQLite and Redis (see conftest ``kind``)."""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import uuid
from pathlib import Path

import pytest
from store_workers import OPEN_S, REDIS_URL, T0_S, Opener, voucher_stock

from engine import (
    BudgetAdjustment,
    ClaimRequest,
    Engine,
    ExpiryRequest,
    Limit,
    MemoryStore,
    OrderLine,
    Outcome,
    Period,
    RedemptionRequest,
    RefundRequest,
    Subject,
    Voucher,
)
from engine.coupon import CouponState
from engine.errors import (
    DuplicateStock,
    InvalidDefinition,
    RequestConflict,
    UnknownCoupon,
    UnknownRedemption,
    UnknownStock,
)
from engine.stock import RefundPolicy
from engine.store.base import Store
from engine.store.redis import RedisStore
from engine.store.sqlite import SqliteStore
from engine.values import RandomAmount, Tier

ORDER = (OrderLine("l1", 15_000, category="food"), OrderLine("l2", 15_001))


def test_create_is_idempotent_and_refuses_a_different_stock(store: Store) -> None:
    engine = Engine(store, seed=1)
    spec = voucher_stock()
    first = engine.create_stock(spec, "create", T0_S)
    assert (first.budget_fen, first.available_fen, first.issued) == (500_000, 500_000, 0)
    assert engine.create_stock(spec, "create-again", T0_S) == first
    assert store.spec("s1") == spec
    with pytest.raises(DuplicateStock):
        store.create_stock(voucher_stock(quota=99), "create-3", T0_S)
    with pytest.raises(UnknownStock):
        store.status("nope")
    assert store.stock_ids() == ["s1"]


def test_claim_redeem_refund_cycle_replays_identically(store: Store) -> None:
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(refund_policy=RefundPolicy.RETURN_IF_VALID), "c", T0_S)
    claim = ClaimRequest("claim-1", "s1", "alice", card="k1")
    issued = engine.claim(claim, OPEN_S)
    assert issued.outcome is Outcome.OK and issued.coupon is not None
    coupon = issued.coupon
    assert engine.claim(claim, OPEN_S + 99) == issued  # replay, later in time
    assert engine.claim(ClaimRequest("claim-2", "s1", "alice"), OPEN_S).outcome is (
        Outcome.LIMIT_REACHED
    )
    pay = RedemptionRequest("pay-1", coupon.coupon_id, "alice", ORDER)
    paid = engine.redeem(pay, OPEN_S + 10)
    assert paid.outcome is Outcome.OK and paid.redemption is not None
    assert sum(fen for _, fen in paid.redemption.line_discounts) == 5000
    assert engine.redeem(pay, OPEN_S + 11) == paid
    again = engine.redeem(RedemptionRequest("pay-2", coupon.coupon_id, "alice", ORDER), OPEN_S)
    assert again.outcome is Outcome.ALREADY_REDEEMED
    assert store.coupon(coupon.coupon_id).state is CouponState.REDEEMED
    rid = paid.redemption.redemption_id
    partial = engine.refund(RefundRequest("ref-1", rid, 5000), OPEN_S + 20)
    assert (partial.outcome, partial.clawed_back_fen, partial.coupon_returned) == (
        Outcome.OK, 1000, False,
    )  # fmt: skip
    assert engine.refund(RefundRequest("ref-1", rid, 5000), OPEN_S + 30) == partial
    rest = engine.refund(RefundRequest("ref-2", rid, 20_001), OPEN_S + 40)
    assert rest.outcome is Outcome.OK and rest.coupon_returned
    assert store.coupon(coupon.coupon_id).state is CouponState.ISSUED
    over = engine.refund(RefundRequest("ref-3", rid, 1), OPEN_S + 50)
    assert over.outcome is Outcome.REFUND_EXCEEDS_PAID
    assert store.redemption(rid) == rest.redemption
    status = engine.status("s1")
    assert (status.issued, status.redeemed, status.reserved_fen, status.spent_fen) == (
        1,
        0,
        5000,
        0,
    )
    assert engine.reconcile("s1").ok


def test_redemption_rejections(store: Store) -> None:
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(), "c", T0_S)
    coupon = engine.claim(ClaimRequest("c1", "s1", "bob"), OPEN_S).coupon
    assert coupon is not None
    cid = coupon.coupon_id
    cases = {
        "not-owner": (RedemptionRequest("r1", cid, "eve", ORDER), OPEN_S, Outcome.NOT_OWNER),
        "small": (
            RedemptionRequest("r2", cid, "bob", (OrderLine("l", 19_999),)),
            OPEN_S,
            Outcome.BELOW_THRESHOLD,
        ),
        "late": (RedemptionRequest("r3", cid, "bob", ORDER), OPEN_S + 8 * 86_400, Outcome.EXPIRED),
    }
    for request, now_s, expected in cases.values():
        assert engine.redeem(request, now_s).outcome is expected
        assert engine.redeem(request, now_s + 1).outcome is expected  # replayed
    with pytest.raises(UnknownCoupon):
        engine.redeem(RedemptionRequest("r4", "s1.99", "bob", ORDER), OPEN_S)
    assert engine.status("s1").redeemed == 0
    assert engine.reconcile("s1").ok


def test_claim_rejections_quota_daily_budget_window(store: Store) -> None:
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock("q", quota=2, limits=()), "c1", T0_S)
    engine.create_stock(voucher_stock("d", quota=9, daily_quota=1, limits=()), "c2", T0_S)
    random_spec = voucher_stock(
        "b", quota=50, value=RandomAmount(tiers=(Tier(300, 1), Tier(700, 1))), budget_fen=1000,
        limits=(),
    )  # fmt: skip
    engine.create_stock(random_spec, "c3", T0_S)
    outcomes = [engine.claim(ClaimRequest(f"q{i}", "q", f"u{i}"), OPEN_S).outcome for i in range(3)]
    assert outcomes == [Outcome.OK, Outcome.OK, Outcome.SOLD_OUT]
    daily = [engine.claim(ClaimRequest(f"d{i}", "d", f"u{i}"), OPEN_S).outcome for i in range(2)]
    assert daily == [Outcome.OK, Outcome.DAILY_SOLD_OUT]
    assert engine.claim(ClaimRequest("d9", "d", "u9"), OPEN_S + 86_400).outcome is Outcome.OK
    values = []
    for i in range(6):
        result = engine.claim(ClaimRequest(f"b{i}", "b", f"u{i}"), OPEN_S)
        values.append(result.coupon.value_fen if result.coupon else str(result.outcome))
    assert values[-1] == "budget_exhausted"
    assert sum(v for v in values if isinstance(v, int)) <= 1000
    assert engine.status("b").available_fen < 300
    early = engine.claim(ClaimRequest("early", "q", "x"), T0_S - 1)
    assert early.outcome is Outcome.NOT_OPEN
    for stock_id in ("q", "d", "b"):
        assert engine.reconcile(stock_id).ok


def test_expire_releases_reservations_once(store: Store) -> None:
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(), "c", T0_S)
    engine.create_stock(voucher_stock("s2"), "c2", T0_S)
    for i in range(4):
        engine.claim(ClaimRequest(f"a{i}", "s1", f"u{i}"), OPEN_S + i)
    engine.claim(ClaimRequest("b0", "s2", "u0"), OPEN_S)
    first = engine.claim(ClaimRequest("a9", "s1", "u9"), OPEN_S + 86_400).coupon
    assert first is not None
    engine.redeem(RedemptionRequest("pay", "s1.1", "u0", ORDER), OPEN_S + 5)
    until = OPEN_S + 7 * 86_400 + 10
    expired = engine.expire(ExpiryRequest("exp-1", until), until)
    assert (expired.outcome, expired.expired_coupons, expired.released_fen) == (
        Outcome.OK, 4, 20_000,
    )  # fmt: skip
    assert engine.expire(ExpiryRequest("exp-1", until), until + 5) == expired
    assert engine.expire(ExpiryRequest("exp-2", until), until).expired_coupons == 0
    assert store.coupon(first.coupon_id).state is CouponState.ISSUED
    assert store.coupon("s1.2").state is CouponState.EXPIRED
    assert (engine.status("s1").expired, engine.status("s2").expired) == (3, 1)
    assert engine.reconcile("s1").ok and engine.reconcile("s2").ok


def test_adjust_budget_is_compare_and_set(store: Store) -> None:
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(), "c", T0_S)
    engine.claim(ClaimRequest("c1", "s1", "u1"), OPEN_S)
    raise_it = BudgetAdjustment("b1", "s1", 500_000, 800_000)
    assert tuple(engine.adjust_budget(raise_it, OPEN_S)) == (Outcome.OK, 800_000)
    assert engine.adjust_budget(raise_it, OPEN_S) == (Outcome.OK, 800_000)
    stale = engine.adjust_budget(BudgetAdjustment("b2", "s1", 500_000, 100), OPEN_S)
    assert stale.outcome is Outcome.BUDGET_CHANGED
    low = engine.adjust_budget(BudgetAdjustment("b3", "s1", 800_000, 4_999), OPEN_S)
    assert low.outcome is Outcome.BUDGET_BELOW_COMMITTED
    cut = engine.adjust_budget(BudgetAdjustment("b4", "s1", 800_000, 5_000), OPEN_S)
    assert cut == (Outcome.OK, 5_000)
    status = engine.status("s1")
    assert (status.budget_fen, status.available_fen, status.reserved_fen) == (5_000, 0, 5_000)
    assert engine.claim(ClaimRequest("c2", "s1", "u2"), OPEN_S).outcome is Outcome.BUDGET_EXHAUSTED
    assert engine.reconcile("s1").ok


def test_reused_request_id_with_another_payload_is_refused(store: Store) -> None:
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(), "c", T0_S)
    engine.claim(ClaimRequest("x1", "s1", "u1"), OPEN_S)
    engine.claim(ClaimRequest("early", "s1", "u2"), T0_S - 5)  # a recorded rejection
    with pytest.raises(RequestConflict):
        engine.claim(ClaimRequest("x1", "s1", "u2"), OPEN_S)
    with pytest.raises(RequestConflict):
        engine.claim(ClaimRequest("early", "s1", "u3"), OPEN_S)
    with pytest.raises(RequestConflict):
        engine.adjust_budget(BudgetAdjustment("x1", "s1", 500_000, 600_000), OPEN_S)
    with pytest.raises(RequestConflict):
        engine.redeem(RedemptionRequest("x1", "s1.1", "u1", ORDER), OPEN_S)
    engine.expire(ExpiryRequest("e1", OPEN_S), OPEN_S)
    with pytest.raises(RequestConflict):
        engine.expire(ExpiryRequest("e1", OPEN_S + 1), OPEN_S + 1)
    assert engine.status("s1").issued == 1
    assert engine.reconcile("s1").ok


def _mixed_workload(store: Store, seed: int) -> list[object]:
    """A seeded sequence of every operation; returns every result (and error type) in order."""
    rng = random.Random(seed)
    engine = Engine(store, seed=seed)
    limits = (Limit(Subject.CARD, Period.DAY, 2), Limit(Subject.CUSTOMER, Period.WEEK, 3))
    engine.create_stock(voucher_stock(quota=60, limits=limits, daily_quota=25), "c", T0_S)
    spec = voucher_stock(
        "r", quota=80, value=RandomAmount(tiers=(Tier(100, 3), Tier(900, 1))), budget_fen=20_000,
        refund_policy=RefundPolicy.RETURN_IF_VALID, limits=(), daily_budget_fen=8_000,
    )  # fmt: skip
    engine.create_stock(spec, "c2", T0_S)
    results: list[object] = []
    coupons: list[tuple[str, str]] = []
    redemptions: list[str] = []
    for step in range(300):
        now = OPEN_S + step * 900.0
        roll = rng.random()
        try:
            if roll < 0.55 or not coupons:
                stock = rng.choice(["s1", "r"])
                customer = f"u{rng.randrange(40)}"
                request = ClaimRequest(f"k{step}", stock, customer, card=f"card{rng.randrange(15)}")
                result = engine.claim(request, now)
                if result.coupon:
                    coupons.append((result.coupon.coupon_id, customer))
            elif roll < 0.8:
                cid, owner = rng.choice(coupons)
                lines = (OrderLine("a", rng.randrange(10_000, 40_000)), OrderLine("b", 777))
                result = engine.redeem(RedemptionRequest(f"p{step}", cid, owner, lines), now)
                if result.redemption:
                    redemptions.append(result.redemption.redemption_id)
            elif roll < 0.9 and redemptions:
                refund = RefundRequest(
                    f"f{step}", rng.choice(redemptions), rng.randrange(1, 20_000)
                )
                result = engine.refund(refund, now)
            elif roll < 0.95:
                result = engine.expire(ExpiryRequest(f"e{step}", now - 3 * 86_400), now)
            else:
                status = engine.status("r")
                change = BudgetAdjustment(f"b{step}", "r", status.budget_fen, rng.randrange(30_000))
                result = engine.adjust_budget(change, now)
            results.append(result)
        except (RequestConflict, UnknownCoupon) as error:
            results.append(type(error).__name__)
    return results


def test_mixed_workload_matches_memory_and_reconciles(store: Store) -> None:
    expected = _mixed_workload(MemoryStore(), seed=11)
    assert _mixed_workload(store, seed=11) == expected
    kinds = {type(result).__name__ for result in expected}
    assert {"ClaimResult", "RedemptionResult", "RefundResult", "ExpiryResult"} <= kinds
    for stock_id in ("s1", "r"):
        check = Engine(store, seed=11).reconcile(stock_id)
        assert check.ok, check.mismatches
        claims = list(store.issued_claims(stock_id))
        assert len(claims) == store.status(stock_id).issued
        assert all(coupon.customer_id == request.customer_id for request, coupon in claims)
    usage = store.limit_usage("s1")
    assert usage and max(usage.values()) <= 3


def test_reopened_store_sees_everything(opener: Opener, kind: str) -> None:
    first = opener()
    engine = Engine(first, seed=3)
    engine.create_stock(voucher_stock(), "c", T0_S)
    issued = engine.claim(ClaimRequest("c1", "s1", "u1"), OPEN_S)
    if kind != "memory":
        first.close()
    second = opener()
    assert Engine(second, seed=3).claim(ClaimRequest("c1", "s1", "u1"), OPEN_S) == issued
    assert second.status("s1").issued == 1
    assert list(second.coupons("s1")) == [issued.coupon]


@pytest.mark.parametrize("shared", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_without_early_replay_reads_every_replay_answers_the_same(
    shared: str, tmp_path: Path
) -> None:
    """``early_replay_reads=False`` (the HTTP server without risk) skips the read before a claim;
    the atomic step still returns the first outcome, rejections and conflicts included."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    store: Store = (
        SqliteStore(tmp_path / "lazy.db", early_replay_reads=False)
        if shared == "sqlite"
        else RedisStore(REDIS_URL, prefix=prefix, early_replay_reads=False)
    )
    try:
        engine = Engine(store, seed=1)
        engine.create_stock(voucher_stock(quota=1), "c", T0_S)
        first = engine.claim(ClaimRequest("a", "s1", "alice"), OPEN_S)
        assert first.outcome is Outcome.OK
        assert store.prior(ClaimRequest("a", "s1", "alice")) is None  # no early read
        assert engine.claim(ClaimRequest("a", "s1", "alice"), OPEN_S + 5) == first
        assert engine.claim(ClaimRequest("a", "s1", "alice"), T0_S - 1) == first  # screened out
        sold_out = engine.claim(ClaimRequest("b", "s1", "bob"), OPEN_S)
        assert sold_out.outcome is Outcome.SOLD_OUT
        assert engine.claim(ClaimRequest("b", "s1", "bob"), OPEN_S + 9) == sold_out
        with pytest.raises(RequestConflict):
            engine.claim(ClaimRequest("a", "s1", "mallory"), OPEN_S)
        with pytest.raises(RequestConflict):
            engine.claim(ClaimRequest("a", "s1", "mallory"), T0_S - 1)
        assert store.status("s1").issued == 1
        assert engine.reconcile("s1").ok
    finally:
        if isinstance(store, RedisStore):
            store.delete_all()
        store.close()


# -- create_stock is idempotent by request id ---------------------------------------------------


def test_create_replays_its_first_outcome_and_refuses_a_reused_id(store: Store) -> None:
    """Like every mutation: the first status under its id, whatever happened since; another
    request's id is refused for a creation and a creation's id for another request; the stock
    id names one definition (another one is a duplicate whatever the request id)."""
    engine = Engine(store, seed=1)
    spec = voucher_stock()
    created = engine.create_stock(spec, "create", T0_S)
    assert engine.claim(ClaimRequest("claim-1", "s1", "alice"), OPEN_S).outcome is Outcome.OK
    assert engine.create_stock(spec, "create", T0_S + 99) == created  # first outcome, issued 0
    now = engine.create_stock(spec, "create-2", T0_S)  # a new id: the stock as it is
    assert (now.issued, engine.create_stock(spec, "create-2", T0_S).issued) == (1, 1)
    with pytest.raises(RequestConflict):
        engine.create_stock(spec, "claim-1", T0_S)  # a claim's request id
    with pytest.raises(RequestConflict):
        engine.claim(ClaimRequest("create", "s1", "bob"), OPEN_S)  # a creation's request id
    for request_id in ("create", "create-3"):
        with pytest.raises(DuplicateStock):
            engine.create_stock(voucher_stock(quota=99), request_id, T0_S)
    assert store.status("s1").issued == 1
    assert engine.reconcile("s1").ok


# -- reconciliation recounts the limit and daily counters from the issued claims -----------------


class _PhoneIsPerson:
    """Everyone behind one phone is one natural person (person != customer id)."""

    def person_of(self, request: ClaimRequest) -> str:
        return f"person-{request.phone}"


def _counted_stock(store: Store) -> Engine:
    engine = Engine(store, seed=1, identity=_PhoneIsPerson())
    limits = (
        Limit(Subject.CARD, Period.DAY, 1),
        Limit(Subject.PERSON, Period.CAMPAIGN, 2),
        Limit(Subject.CUSTOMER, Period.WEEK, 3),
    )
    engine.create_stock(voucher_stock(quota=50, limits=limits, daily_quota=20), "c", T0_S)
    for i in range(12):
        request = ClaimRequest(f"k{i}", "s1", f"u{i % 5}", card=f"card{i}", phone=f"p{i % 4}")
        engine.claim(request, OPEN_S + (i // 4) * 86_400)
    return engine


def _tamper(store: Store, what: str) -> None:
    """Change one counter (or the person kept with a claim) behind the engine's back."""
    key = next(k for k in sorted(store.limit_usage("s1")) if k[1] == 1)  # a person limit
    day = min(store.daily_usage("s1"))
    cid = min(store.claim_persons("s1"))
    if isinstance(store, MemoryStore):
        state = store._stocks["s1"]
        {
            "limit zeroed": lambda: state.limit_used.__setitem__(key, 0),
            "limit deleted": lambda: state.limit_used.__delitem__(key),
            "day zeroed": lambda: state.issued_by_day.__setitem__(day, 0),
            "day reserved": lambda: state.reserved_by_day.__setitem__(day, 1),
            "person moved": lambda: state.persons.__setitem__(cid, "person-x"),
        }[what]()
    elif isinstance(store, SqliteStore):
        statements = {
            "limit zeroed": ("UPDATE limits SET used = 0 WHERE subject = ?", (key[2],)),
            "limit deleted": ("DELETE FROM limits WHERE subject = ?", (key[2],)),
            "day zeroed": ("UPDATE daily SET issued = 0 WHERE day_key = ?", (day,)),
            "day reserved": ("UPDATE daily SET reserved_fen = 1 WHERE day_key = ?", (day,)),
            "person moved": (
                "UPDATE claim_persons SET person_id = 'person-x' WHERE coupon_id = ?",
                (cid,),
            ),
        }
        with contextlib.closing(sqlite3.connect(store.path)) as raw, raw:
            raw.execute(*statements[what])
    else:
        assert isinstance(store, RedisStore)
        keys = store._keys("s1")
        field = json.dumps(list(key[1:]), separators=(",", ":"))
        {
            "limit zeroed": lambda: store._redis.hset(keys.limits, field, 0),
            "limit deleted": lambda: store._redis.hdel(keys.limits, field),
            "day zeroed": lambda: store._redis.hset(keys.daily, f"i:{day}", 0),
            "day reserved": lambda: store._redis.hset(keys.daily, f"r:{day}", 1),
            "person moved": lambda: store._redis.hset(
                keys.persons, cid, json.dumps([1, "person-x", 0])
            ),
        }[what]()


@pytest.mark.parametrize(
    "what", ["limit zeroed", "limit deleted", "day zeroed", "day reserved", "person moved"]
)
def test_reconciliation_recounts_limit_and_daily_counters_from_the_claims(
    store: Store, what: str
) -> None:
    """Limit and daily counters move no money, so the ledger cannot prove them: they are
    recounted from the issued claims (the person of a person limit as the store kept it), and a
    counter changed behind the engine's back is a mismatch naming it."""
    engine = _counted_stock(store)
    honest = engine.reconcile("s1")
    assert honest.ok, honest.mismatches
    assert any(k[1] == 1 and used == 2 for k, used in store.limit_usage("s1").items())
    _tamper(store, what)
    check = engine.reconcile("s1")
    assert not check.ok
    word = "day" if what.startswith("day") else "limit"
    assert any(m.startswith(word) and "recounted" in m for m in check.mismatches), check


# -- a redemption the coupon paid entirely (paid 0) -----------------------------------------------


@pytest.mark.parametrize("policy", [RefundPolicy.RETURN_IF_VALID, RefundPolicy.FORFEIT])
def test_a_fully_discounted_order_is_refunded_by_a_refund_of_0_fen(
    store: Store, policy: RefundPolicy
) -> None:
    """paid 0: the only refund is one of 0 fen, and it is a full refund (the coupon comes back
    under return_if_valid, the discount is clawed back under forfeit); after it, any refund is
    refund_exceeds_paid; 0 fen on an order that paid something is a caller error."""
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(value=Voucher(5000), refund_policy=policy), "c", T0_S)
    coupon = engine.claim(ClaimRequest("k1", "s1", "alice"), OPEN_S).coupon
    assert coupon is not None
    lines = (OrderLine("l1", 3000), OrderLine("l2", 2000))
    paid = engine.redeem(RedemptionRequest("pay-1", coupon.coupon_id, "alice", lines), OPEN_S)
    assert paid.redemption is not None and paid.redemption.paid_fen == 0
    rid = paid.redemption.redemption_id
    full = engine.refund(RefundRequest("ref-0", rid, 0), OPEN_S + 5)
    returned = policy is RefundPolicy.RETURN_IF_VALID
    assert (full.outcome, full.coupon_returned) == (Outcome.OK, returned)
    assert full.clawed_back_fen == (0 if returned else 5000)
    assert engine.refund(RefundRequest("ref-0", rid, 0), OPEN_S + 9) == full  # replay
    for request_id, amount in (("ref-again", 0), ("ref-1", 1)):
        again = engine.refund(RefundRequest(request_id, rid, amount), OPEN_S + 9)
        assert again.outcome is Outcome.REFUND_EXCEEDS_PAID
    state = CouponState.ISSUED if returned else CouponState.REDEEMED
    assert store.coupon(coupon.coupon_id).state is state
    status = store.status("s1")
    assert (status.spent_fen, status.reserved_fen) == (0, 5000 if returned else 0)
    assert engine.reconcile("s1").ok
    other = engine.claim(ClaimRequest("k2", "s1", "bob"), OPEN_S).coupon
    assert other is not None
    order = (OrderLine("l", 9000),)
    partly = engine.redeem(RedemptionRequest("pay-2", other.coupon_id, "bob", order), OPEN_S)
    assert partly.redemption is not None
    with pytest.raises(InvalidDefinition, match="amount_fen"):
        engine.refund(RefundRequest("ref-2", partly.redemption.redemption_id, 0), OPEN_S)


def test_an_unknown_redemption_is_an_unknown_redemption(store: Store) -> None:
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(), "c", T0_S)
    with pytest.raises(UnknownRedemption) as caught:
        engine.refund(RefundRequest("ref", "r-nothing", 100), OPEN_S)
    assert caught.value.redemption_id == "r-nothing"
    assert isinstance(caught.value, UnknownCoupon)  # what callers caught before
    with pytest.raises(UnknownRedemption):
        store.redemption("r-nothing")


# -- request ids are scoped per stock -------------------------------------------------------------


def test_request_ids_are_scoped_per_stock(store: Store) -> None:
    """One id space per stock, the same in every store: a stock's creation, claims and budget
    adjustments, and the redemptions and refunds of its coupons, share it; the same id in
    another stock is another request; expiry ids (an expiry spans stocks) are store-wide."""
    engine = Engine(store, seed=1)
    s1 = engine.create_stock(voucher_stock("s1"), "create", T0_S)
    s2 = engine.create_stock(voucher_stock("s2"), "create", T0_S)  # s1's id, s2's creation
    assert engine.create_stock(voucher_stock("s1"), "create", T0_S) == s1
    assert engine.create_stock(voucher_stock("s2"), "create", T0_S) == s2
    first = engine.claim(ClaimRequest("k1", "s1", "alice"), OPEN_S)
    second = engine.claim(ClaimRequest("k1", "s2", "alice"), OPEN_S)
    assert first.coupon is not None and second.coupon is not None
    assert (first.coupon.coupon_id, second.coupon.coupon_id) == ("s1.1", "s2.1")
    assert engine.claim(ClaimRequest("k1", "s2", "alice"), OPEN_S + 9) == second  # replay
    with pytest.raises(RequestConflict):
        engine.claim(ClaimRequest("create", "s2", "bob"), OPEN_S)  # s2's creation's id
    with pytest.raises(RequestConflict):
        engine.adjust_budget(BudgetAdjustment("k1", "s2", 500_000, 600_000), OPEN_S)
    for stock_id in ("s1", "s2"):  # one id, a budget adjustment in each stock
        change = BudgetAdjustment("budget", stock_id, 500_000, 600_000)
        assert engine.adjust_budget(change, OPEN_S).outcome is Outcome.OK
    paid = [
        engine.redeem(RedemptionRequest("pay", coupon.coupon_id, "alice", ORDER), OPEN_S + 1)
        for coupon in (first.coupon, second.coupon)
    ]
    assert [result.outcome for result in paid] == [Outcome.OK, Outcome.OK]
    with pytest.raises(RequestConflict):  # the coupon's stock holds "k1": its claim
        engine.redeem(RedemptionRequest("k1", "s1.1", "alice", ORDER), OPEN_S + 1)
    rids = [result.redemption.redemption_id for result in paid if result.redemption]
    refunds = [engine.refund(RefundRequest("ref", rid, 1000), OPEN_S + 2) for rid in rids]
    assert [result.outcome for result in refunds] == [Outcome.OK, Outcome.OK]
    with pytest.raises(RequestConflict):  # the redemption's stock holds "pay"
        engine.refund(RefundRequest("pay", rids[1], 1000), OPEN_S + 2)
    expired = engine.expire(ExpiryRequest("k1", OPEN_S), OPEN_S + 3)  # store-wide: no conflict
    assert engine.expire(ExpiryRequest("k1", OPEN_S), OPEN_S + 4) == expired
    with pytest.raises(RequestConflict):
        engine.expire(ExpiryRequest("k1", OPEN_S + 1), OPEN_S + 4)
    for stock_id in ("s1", "s2"):
        status = store.status(stock_id)
        assert (status.issued, status.redeemed, status.budget_fen) == (1, 1, 600_000)
        check = engine.reconcile(stock_id)
        assert check.ok, check.mismatches


# -- expiry: the replay check, then the clock, in the store's own step ----------------------------


def test_expiry_replays_before_its_clock_check_in_one_lookup(store: Store) -> None:
    """``Engine.expire`` hands the clock to the store, which looks for the first outcome once
    (no ``prior`` call before it), then refuses an ``until_s`` past the clock (recording
    nothing), then expires. A replay answers whatever the clock says now."""
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(), "c", T0_S)
    engine.claim(ClaimRequest("k1", "s1", "alice"), OPEN_S)
    until = OPEN_S + 8 * 86_400

    def no_early_lookup(request: object) -> None:
        raise AssertionError(f"prior({request!r}) before the store's own step")

    store.prior = no_early_lookup  # type: ignore[method-assign]
    with pytest.raises(InvalidDefinition, match="until_s"):
        engine.expire(ExpiryRequest("e1", until), until - 1)  # past the clock: refused
    expired = engine.expire(ExpiryRequest("e1", until), until)  # nothing was recorded
    assert (expired.expired_coupons, expired.released_fen) == (1, 5000)
    assert engine.expire(ExpiryRequest("e1", until), OPEN_S) == expired  # clock before until_s
    with pytest.raises(RequestConflict):
        engine.expire(ExpiryRequest("e1", until - 1), until)
    assert store.status("s1").expired == 1
    assert engine.reconcile("s1").ok
