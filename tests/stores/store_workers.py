"""Shared helpers of the store contract tests: stock definitions, opening a store of each kind,
and the bodies of the worker processes (importable by ``multiprocessing`` spawn children)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from engine import (
    ClaimRequest,
    ClaimWindow,
    Engine,
    Limit,
    MemoryStore,
    Period,
    StockSpec,
    Subject,
    Validity,
    Voucher,
)
from engine.store.base import Store
from engine.store.redis import RedisStore
from engine.store.sqlite import SqliteStore

Opener = Callable[[], Store]
"""Opens a store instance over one shared backing (the contract suite's fixture type)."""

T0_S = 1_800_000_000.0  # window opens (a Friday in 2027, Asia/Shanghai irrelevant here)
OPEN_S = T0_S + 60.0  # a moment inside the window
REDIS_URL = "redis://127.0.0.1:6379/3"


def voucher_stock(stock_id: str = "s1", quota: int = 100, **changes: Any) -> StockSpec:
    """满200减50, one per customer per campaign unless ``limits`` is given."""
    fields: dict[str, Any] = {
        "value": Voucher(face_fen=5000, threshold_fen=20000),
        "quota": quota,
        "budget_fen": quota * 5000,
        "window": ClaimWindow(T0_S, T0_S + 30 * 86_400),
        "validity": Validity(days_after_claim=7),
        "limits": (Limit(Subject.CUSTOMER, Period.CAMPAIGN, 1),),
    }
    fields.update(changes)
    return StockSpec(stock_id, **fields)


def open_store(kind: str, location: str) -> Store:
    """A new store instance over the shared backing: a file path for sqlite, a prefix for redis."""
    if kind == "sqlite":
        return SqliteStore(location)
    if kind == "redis":
        return RedisStore(REDIS_URL, prefix=location)
    assert kind == "memory"
    return MemoryStore()


def claim_storm(
    kind: str,
    location: str,
    stock_id: str,
    worker: int,
    threads: int,
    claims_per_thread: int,
    same_customer: bool,
    go: Any,
    results: Any,
) -> None:
    """Process body: ``threads`` threads claim at once after ``go`` is set; report outcomes."""
    store = open_store(kind, location)
    engine = Engine(store, seed=7)
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def run(thread: int) -> None:
        for index in range(claims_per_thread):
            tag = f"w{worker}-t{thread}-{index}"
            customer = "same-customer" if same_customer else f"cust-{tag}"
            result = engine.claim(ClaimRequest(tag, stock_id, customer), OPEN_S)
            coupon_id = result.coupon.coupon_id if result.coupon else ""
            with lock:
                outcomes.append((str(result.outcome), coupon_id))

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    go.wait()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    store.close()
    results.put(outcomes)


def crash_claimer(path: str, stock_id: str) -> None:
    """Claim forever from 8 threads, printing each acknowledged coupon id (killed by the test)."""
    store = SqliteStore(path)
    engine = Engine(store, seed=7)
    lock = threading.Lock()

    def run(thread: int) -> None:
        for index in range(10**9):
            request = ClaimRequest(f"crash-{thread}-{index}", stock_id, f"c-{thread}-{index}")
            result = engine.claim(request, OPEN_S)
            if result.coupon is not None:
                with lock:
                    sys.stdout.write(f"{result.coupon.coupon_id}\n")
                    sys.stdout.flush()

    pool = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(8)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


if __name__ == "__main__":
    crash_claimer(sys.argv[1], sys.argv[2])
