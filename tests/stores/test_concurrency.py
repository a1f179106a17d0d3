"""Real concurrency at the store level: threads released together by a barrier, and for the
shared stores (SQLite file, Redis) several processes, each with its own store instance."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import pytest
from store_workers import OPEN_S, T0_S, Opener, claim_storm, voucher_stock

from engine import (
    ClaimRequest,
    Engine,
    Limit,
    OrderLine,
    Outcome,
    Period,
    RedemptionRequest,
    RefundRequest,
    Subject,
)
from engine.store.base import Store

R = TypeVar("R")


def all_at_once(count: int, work: Callable[[int], R]) -> list[R]:
    """Run ``work(i)`` for i < count on ``count`` threads released together; results in order."""
    barrier = threading.Barrier(count)
    results: list[R | None] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results  # type: ignore[return-value]


def assert_exactly_issued(store: Store, stock_id: str, coupon_ids: list[str], quota: int) -> None:
    assert len(coupon_ids) == quota
    assert len(set(coupon_ids)) == quota
    assert store.status(stock_id).issued == quota
    assert {coupon.coupon_id for coupon in store.coupons(stock_id)} == set(coupon_ids)
    check = Engine(store, seed=0).reconcile(stock_id)
    assert check.ok, check.mismatches


def test_400_threads_claim_a_quota_of_100(store: Store) -> None:
    engine = Engine(store, seed=5)
    # Budget for all 400 claims: the quota alone must stop them (not the budget behind it).
    engine.create_stock(voucher_stock(quota=100, budget_fen=400 * 5000), "c", T0_S)

    def claim_50(thread: int) -> list[str]:
        issued = []
        for index in range(50):
            request = ClaimRequest(f"t{thread}-{index}", "s1", f"cust-{thread}-{index}")
            result = engine.claim(request, OPEN_S)
            if result.coupon is not None:
                issued.append(result.coupon.coupon_id)
            else:
                assert result.outcome is Outcome.SOLD_OUT
        return issued

    issued = [cid for batch in all_at_once(8, claim_50) for cid in batch]
    assert_exactly_issued(store, "s1", issued, 100)


def test_one_customer_50_times_at_once_gets_one_coupon(store: Store) -> None:
    engine = Engine(store, seed=5)
    engine.create_stock(voucher_stock(quota=100), "c", T0_S)
    results = all_at_once(
        50, lambda i: engine.claim(ClaimRequest(f"same-{i}", "s1", "greedy"), OPEN_S)
    )
    assert Counter(r.outcome for r in results) == {Outcome.OK: 1, Outcome.LIMIT_REACHED: 49}
    assert store.limit_usage("s1") == {("s1", 0, "greedy", 0): 1}
    assert Engine(store, seed=0).reconcile("s1").ok


def test_one_request_id_20_times_at_once_issues_one_coupon(store: Store) -> None:
    engine = Engine(store, seed=5)
    engine.create_stock(voucher_stock(quota=100), "c", T0_S)
    request = ClaimRequest("retry-me", "s1", "impatient")
    results = all_at_once(20, lambda i: engine.claim(request, OPEN_S + i))
    assert results[0].outcome is Outcome.OK
    assert all(result == results[0] for result in results)
    assert store.status("s1").issued == 1


def test_20_concurrent_redemptions_of_one_coupon_one_wins(store: Store) -> None:
    engine = Engine(store, seed=5)
    engine.create_stock(voucher_stock(quota=100), "c", T0_S)
    coupon = engine.claim(ClaimRequest("claim-c", "s1", "payer"), OPEN_S).coupon
    assert coupon is not None
    order = (OrderLine("l", 30_000),)
    results = all_at_once(
        20,
        lambda i: engine.redeem(
            RedemptionRequest(f"pay-{i}", coupon.coupon_id, "payer", order), OPEN_S + 1
        ),
    )
    outcomes = Counter(result.outcome for result in results)
    assert outcomes == {Outcome.OK: 1, Outcome.ALREADY_REDEEMED: 19}
    status = store.status("s1")
    assert (status.redeemed, status.spent_fen, status.reserved_fen) == (1, 5000, 0)
    winner = next(r for r in results if r.redemption is not None)
    assert winner.redemption is not None
    refunds = all_at_once(
        10,
        lambda i: engine.refund(
            RefundRequest(f"ref-{i}", winner.redemption.redemption_id, 10_000), OPEN_S + 2
        ),
    )
    refunded = Counter(r.outcome for r in refunds)
    assert refunded == {Outcome.OK: 2, Outcome.REFUND_EXCEEDS_PAID: 8}  # paid 25 000
    assert store.redemption(winner.redemption.redemption_id).refunded_fen == 20_000
    assert Engine(store, seed=0).reconcile("s1").ok


class _PhoneIsPerson:
    """Everyone behind one phone is one natural person (so the stores keep each claim's)."""

    def person_of(self, request: ClaimRequest) -> str:
        return f"person-{request.phone}"


def test_reconciliation_during_a_live_sale_is_always_ok(store: Store) -> None:
    """Reconciliation reads one snapshot (``Store.records``): while 4 threads keep claiming (a
    person limit, a customer limit, a daily quota: every counter kind moves), every one of
    repeated reconciliations is ok. Read part by part, a claim landing between two reads (the
    ledger and the status, the claims and the limit counters) makes them disagree."""
    engine = Engine(store, seed=1, identity=_PhoneIsPerson())
    limits = (Limit(Subject.PERSON, Period.DAY, 10**6), Limit(Subject.CUSTOMER, Period.DAY, 10**6))
    stock = voucher_stock(quota=10**6, limits=limits, daily_quota=10**6)
    engine.create_stock(stock, "c", T0_S)
    stop = threading.Event()
    claimed = [0] * 4

    def claim_until_stopped(thread: int) -> None:
        while not stop.is_set():
            index = claimed[thread]
            request = ClaimRequest(
                f"t{thread}-{index}", "s1", f"u{index % 40}", phone=f"p{index % 7}"
            )
            assert engine.claim(request, OPEN_S).outcome is Outcome.OK
            claimed[thread] += 1

    threads = [threading.Thread(target=claim_until_stopped, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    checks, issued_seen = [], set()
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline or len(issued_seen) < 5:
            check = engine.reconcile("s1")
            checks.append(check)
            issued_seen.add(check.replayed.issued)
            if not check.ok or len(checks) >= 200:
                break
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert [c.mismatches for c in checks if not c.ok] == []
    assert len(issued_seen) >= 5  # claims landed between the reconciliations: a live sale
    assert engine.reconcile("s1").ok


@pytest.mark.parametrize(
    ("processes", "threads", "per_thread", "same_customer", "quota", "expected_ok"),
    [(4, 4, 25, False, 100, 100), (5, 10, 1, True, 100, 1)],
    ids=["400-claims-quota-100", "50-claims-one-customer"],
)
def test_several_processes_share_one_stock(
    kind: str,
    location: str,
    opener: Opener,
    processes: int,
    threads: int,
    per_thread: int,
    same_customer: bool,
    quota: int,
    expected_ok: int,
) -> None:
    if kind == "memory":
        pytest.skip("the memory store lives in one process")
    store = opener()
    claims = processes * threads * per_thread
    stock = voucher_stock(quota=quota, budget_fen=claims * 5000)  # the quota alone stops them
    Engine(store, seed=7).create_stock(stock, "c", T0_S)
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    workers = [
        context.Process(
            target=claim_storm,
            args=(kind, location, "s1", w, threads, per_thread, same_customer, go, results),
        )
        for w in range(processes)
    ]
    for worker in workers:
        worker.start()
    go.set()
    outcomes = [outcome for _ in workers for outcome in results.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert len(outcomes) == claims
    issued = [coupon_id for outcome, coupon_id in outcomes if outcome == "ok"]
    if expected_ok == quota:
        assert_exactly_issued(store, "s1", issued, quota)
    else:
        assert len(issued) == expected_ok
        assert Engine(store, seed=0).reconcile("s1").ok
