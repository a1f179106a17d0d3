"""Measure store claim throughput (not a test; the machine is shared, so compare ratios).

    python tests/stores/measure_claims.py --threads 8 --claims 4000

Runs the same claim storm (distinct customers, quota large enough never to sell out) through
``Engine.claim`` against: memory, sqlite with group commit, sqlite with one transaction per claim
(``max_batch=1``), and redis; prints claims/s and, for sqlite, operations per commit.
``--awaited N`` also runs N concurrent claimers on one event loop through the stores' awaitable
claim step (``claim_async``: what the HTTP server does), SQLite and Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from pathlib import Path

from store_workers import OPEN_S, REDIS_URL, T0_S, open_store, voucher_stock

from engine import ClaimRequest, Engine
from engine.store.redis import RedisStore
from engine.store.sqlite import SqliteStore


def storm(store: object, threads: int, claims: int) -> float:
    engine = Engine(store, seed=1)  # type: ignore[arg-type]
    engine.create_stock(voucher_stock(quota=10 * claims, limits=()), "c", T0_S)
    per_thread = claims // threads
    barrier = threading.Barrier(threads + 1)

    def run(thread: int) -> None:
        barrier.wait()
        for index in range(per_thread):
            engine.claim(ClaimRequest(f"{thread}-{index}", "s1", f"u{thread}-{index}"), OPEN_S)

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    assert engine.status("s1").issued == per_thread * threads
    return per_thread * threads / elapsed


def awaited_storm(store: object, concurrency: int, claims: int) -> float:
    """``claims`` claims from ``concurrency`` coroutines: pre-store step, then ``claim_async``."""
    engine = Engine(store, seed=1)  # type: ignore[arg-type]
    engine.create_stock(voucher_stock(quota=10 * claims, limits=()), "c", T0_S)
    per_task = claims // concurrency

    async def run(task: int) -> None:
        for index in range(per_task):
            step = engine.claim_step(
                ClaimRequest(f"{task}-{index}", "s1", f"u{task}-{index}"), OPEN_S
            )
            await store.claim_async(*step)  # type: ignore[attr-defined,misc]

    async def all_tasks() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(run(task) for task in range(concurrency)))
        elapsed = time.perf_counter() - start
        await store.aclose()  # type: ignore[attr-defined]
        return elapsed

    elapsed = asyncio.run(all_tasks())
    assert engine.status("s1").issued == per_task * concurrency
    return per_task * concurrency / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--claims", type=int, default=4000)
    parser.add_argument("--awaited", type=int, default=0, metavar="N", help="concurrent claimers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        stores = {
            "memory": lambda: open_store("memory", ""),
            "sqlite group commit": lambda: SqliteStore(Path(folder) / "g.db"),
            "sqlite 1 txn/claim": lambda: SqliteStore(Path(folder) / "one.db", max_batch=1),
            "redis": lambda: open_store("redis", f"measure-{uuid.uuid4().hex[:8]}:"),
        }
        for name, make in stores.items():
            store = make()
            claims = args.claims if "1 txn" not in name else args.claims // 4
            rate = storm(store, args.threads, claims)
            extra = ""
            if isinstance(store, SqliteStore):
                batches, operations = store.batches
                extra = f"  ({operations / batches:.1f} operations per commit)"
            if isinstance(store, RedisStore):
                store.delete_all()
            store.close()
            print(f"{name:22s} {args.threads:3d} threads  {rate:8.0f} claims/s{extra}")
        if args.awaited:
            awaited(folder, args.awaited, args.claims * 4)


def awaited(folder: str, concurrency: int, claims: int) -> None:
    for name in ("sqlite", "redis"):
        if name == "sqlite":
            store: SqliteStore | RedisStore = SqliteStore(Path(folder) / "a.db")
        else:
            store = RedisStore(REDIS_URL, prefix=f"measure-{uuid.uuid4().hex[:8]}:")
        rate = awaited_storm(store, concurrency, claims)
        extra = ""
        if isinstance(store, SqliteStore):
            batches, operations = store.batches
            extra = f"  ({operations / batches:.1f} operations per commit)"
        else:
            store.delete_all()
        store.close()
        print(f"{name + ' awaited':22s} {concurrency:3d} tasks    {rate:8.0f} claims/s{extra}")


if __name__ == "__main__":
    main()
