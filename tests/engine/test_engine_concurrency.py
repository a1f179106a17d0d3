"""Real concurrency: many threads claim on one MemoryStore-backed Engine at once. The store's
check-and-write is one atomic step, so the quota and every limit hold exactly under the race."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from engine_kit import FRIDAY_10, SEASON, claim_request, open_stock, order, stock

from engine import Engine, Limit, Outcome, Period, Subject, Voucher

THREADS = 16
ROUNDS = 8  # each race is repeated on a fresh engine: an unguarded store fails nearly always


@contextmanager
def _fast_switching() -> Iterator[None]:
    """Switch threads every few microseconds so the claims really interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _race(work: Callable[[int], list[Outcome]]) -> Counter[Outcome]:
    """Run ``work(thread_index)`` on THREADS threads released together; count the outcomes."""
    barrier = threading.Barrier(THREADS)
    results: list[list[Outcome]] = [[] for _ in range(THREADS)]

    def run(index: int) -> None:
        barrier.wait()
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    with _fast_switching():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return Counter(outcome for outcomes in results for outcome in outcomes)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_quota_100_is_never_over_issued(round_: int) -> None:
    engine = open_stock(stock(window=SEASON, quota=100, limits=()))
    per_thread = 40  # 640 claims race for 100 coupons

    def work(index: int) -> list[Outcome]:
        claims = (claim_request(f"{index}-{i}") for i in range(per_thread))
        return [engine.claim(request, FRIDAY_10).outcome for request in claims]

    outcomes = _race(work)
    assert outcomes == Counter({Outcome.OK: 100, Outcome.SOLD_OUT: THREADS * per_thread - 100})
    _assert_consistent(engine, issued=100)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_limit_one_per_card_holds_under_the_race(round_: int) -> None:
    """Every thread claims with the same 30 cards: exactly one coupon per card."""
    spec = stock(window=SEASON, quota=1000, limits=(Limit(Subject.CARD, Period.DAY, 1),))
    engine = open_stock(spec)
    cards = 30

    def work(index: int) -> list[Outcome]:
        claims = (claim_request(f"{index}-{c}", card=f"card-{c}") for c in range(cards))
        return [engine.claim(request, FRIDAY_10).outcome for request in claims]

    outcomes = _race(work)
    assert outcomes == Counter({Outcome.OK: cards, Outcome.LIMIT_REACHED: (THREADS - 1) * cards})
    usage = engine.store.limit_usage("friday")
    assert sorted(usage.values()) == [1] * cards
    _assert_consistent(engine, issued=cards)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_quota_and_limit_together(round_: int) -> None:
    """Quota 100 and one per card, 200 distinct cards claimed by every thread."""
    spec = stock(window=SEASON, quota=100, limits=(Limit(Subject.CARD, Period.DAY, 1),))
    engine = open_stock(spec)

    def work(index: int) -> list[Outcome]:
        claims = (claim_request(f"{index}-{c}", card=f"card-{c}") for c in range(200))
        return [engine.claim(request, FRIDAY_10).outcome for request in claims]

    outcomes = _race(work)
    assert outcomes[Outcome.OK] == 100
    cards = Counter(request.card for request, _ in engine.store.issued_claims("friday"))
    assert len(cards) == 100 and set(cards.values()) == {1}
    _assert_consistent(engine, issued=100)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_replays_of_one_request_id_issue_one_coupon(round_: int) -> None:
    engine = open_stock(stock(window=SEASON, limits=()))
    request = claim_request("same")

    def work(index: int) -> list[Outcome]:
        return [engine.claim(request, FRIDAY_10).outcome for _ in range(20)]

    assert _race(work) == Counter({Outcome.OK: THREADS * 20})
    results = {engine.claim(request, FRIDAY_10) for _ in range(3)}
    assert len(results) == 1
    _assert_consistent(engine, issued=1)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_coupon_is_redeemed_once_under_the_race(round_: int) -> None:
    """Over-redemption is the most reported bug in open-source coupon systems: race it."""
    engine = open_stock(stock(window=SEASON, value=Voucher(1000), budget_fen=10**6, limits=()))
    coupons = [engine.claim(claim_request(i), FRIDAY_10).coupon for i in range(10)]

    def work(index: int) -> list[Outcome]:
        return [
            engine.redeem(
                order(f"p{index}-{c}", coupon.coupon_id, f"u{c}", 5000), FRIDAY_10 + 60
            ).outcome
            for c, coupon in enumerate(coupons)
            if coupon is not None
        ]

    outcomes = _race(work)
    assert outcomes == Counter({Outcome.OK: 10, Outcome.ALREADY_REDEEMED: (THREADS - 1) * 10})
    status = engine.status("friday")
    assert (status.redeemed, status.spent_fen) == (10, 10 * 1000)
    _assert_consistent(engine, issued=10)


def _assert_consistent(engine: Engine, issued: int) -> None:
    status = engine.status("friday")
    assert status.issued == issued
    assert len({c.coupon_id for c in engine.store.coupons("friday")}) == issued
    check = engine.reconcile("friday")
    assert check.ok, check.mismatches
