"""Claims admitted in batches: the SQLite writer's bulk run (one pass of a group-commit batch)
and the Redis store's batched ``claim.lua`` call (several claims of one stock in one script).

A batch must be exactly its claims run one after the other: claims of one batch compete for
the last coupon, share a limit, and see a request id sent twice; the stored rows and keys equal
those of the same claims made one by one.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_workers import OPEN_S, REDIS_URL, T0_S, voucher_stock

from engine import ClaimRequest, Engine, Limit, Outcome, Period, Subject
from engine.engine import ClaimAdmission
from engine.errors import RequestConflict, StoreUnavailable
from engine.outcomes import ClaimResult
from engine.store.redis import RedisStore
from engine.store.sqlite import SqliteStore
from engine.store.sqlite_writer import GroupCommitWriter
from engine.values import RandomAmount, Tier

BATCHED = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]

AnyStore = SqliteStore | RedisStore


@pytest.fixture
def open_batched(tmp_path: Path) -> Iterator[Any]:
    """Opens fresh stores of a kind (each its own file or key prefix), closed at the end."""
    opened: list[AnyStore] = []

    def open_one(kind: str) -> AnyStore:
        store: AnyStore
        if kind == "sqlite":
            store = SqliteStore(tmp_path / f"{uuid.uuid4().hex}.db", early_replay_reads=False)
        else:
            prefix = f"test-{uuid.uuid4().hex[:12]}:"
            store = RedisStore(REDIS_URL, prefix=prefix, early_replay_reads=False)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        if isinstance(store, RedisStore):
            store.delete_all()
        store.close()


def _hold(store: AnyStore) -> threading.Event:
    """Keep the SQLite writer busy until the event is set, so that the claims submitted
    meanwhile all land in its next batch (Redis batches what one loop turn submits anyway)."""
    release = threading.Event()
    if isinstance(store, SqliteStore):
        store._writer.submit_async(lambda connection: release.wait(10))
    return release


def in_one_batch(
    store: AnyStore, engine: Engine, requests: list[ClaimRequest]
) -> list[ClaimResult | BaseException]:
    """Claim ``requests`` concurrently from one event loop, so that they share one batch (one
    SQLite transaction or one Redis script call, asserted); results or errors in order."""

    async def claim_all() -> list[ClaimResult | BaseException]:
        release = _hold(store)
        calls_before = _calls(store)
        waiting = []
        for request in requests:
            step = engine.claim_step(request, OPEN_S)
            assert isinstance(step, ClaimAdmission)
            waiting.append(store.claim_async(*step))
        release.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert _calls(store) - calls_before == 1, "the claims did not share one batch"
        if isinstance(store, SqliteStore):
            assert store.bulk_fallbacks == 0, "the bulk run raised: its claims ran alone"
        await store.aclose()
        return results

    return asyncio.run(claim_all())


def _calls(store: AnyStore) -> int:
    """Batches committed (SQLite, the holding job included) or claim script calls (Redis)."""
    if isinstance(store, SqliteStore):
        return store.batches[0] - (1 if store.batches[0] else 0)
    return 0 if store._async is None else store._async.calls


@pytest.mark.parametrize("kind", BATCHED)
def test_claims_of_one_batch_compete_for_the_last_coupons(open_batched: Any, kind: str) -> None:
    store = open_batched(kind)
    engine = Engine(store, seed=3)
    engine.create_stock(voucher_stock(quota=3, budget_fen=10 * 5000), "c", T0_S)
    requests = [ClaimRequest(f"r{i}", "s1", f"c{i}") for i in range(10)]
    results = in_one_batch(store, engine, requests)
    assert [result.outcome for result in results] == [Outcome.OK] * 3 + [Outcome.SOLD_OUT] * 7  # type: ignore[union-attr]
    assert [result.coupon.coupon_id for result in results[:3]] == ["s1.1", "s1.2", "s1.3"]  # type: ignore[union-attr]
    assert store.status("s1").issued == 3
    assert engine.reconcile("s1").ok
    replay = engine.claim(requests[5], OPEN_S + 1)  # a refusal replays as it was
    assert replay == results[5]


@pytest.mark.parametrize("kind", BATCHED)
def test_claims_of_one_batch_share_a_limit(open_batched: Any, kind: str) -> None:
    store = open_batched(kind)
    engine = Engine(store, seed=3)
    engine.create_stock(voucher_stock(quota=50), "c", T0_S)  # one per customer per campaign
    requests = [ClaimRequest(f"r{i}", "s1", "greedy", card=f"k{i}") for i in range(6)]
    requests.append(ClaimRequest("other", "s1", "modest"))
    results = in_one_batch(store, engine, requests)
    outcomes = [result.outcome for result in results]  # type: ignore[union-attr]
    assert outcomes == [Outcome.OK] + [Outcome.LIMIT_REACHED] * 5 + [Outcome.OK]
    assert sorted(store.limit_usage("s1").values()) == [1, 1]
    assert engine.reconcile("s1").ok


@pytest.mark.parametrize("kind", BATCHED)
def test_one_request_id_several_times_in_one_batch(open_batched: Any, kind: str) -> None:
    store = open_batched(kind)
    engine = Engine(store, seed=3)
    engine.create_stock(voucher_stock(quota=50), "c", T0_S)
    twin = ClaimRequest("same", "s1", "twin", card="k")
    impostor = twin._replace(customer_id="impostor")
    requests = [twin, twin, impostor, twin, ClaimRequest("next", "s1", "next")]
    results = in_one_batch(store, engine, requests)
    assert results[0] == results[1] == results[3]
    assert isinstance(results[0], ClaimResult) and results[0].outcome is Outcome.OK
    assert isinstance(results[2], RequestConflict)
    assert isinstance(results[4], ClaimResult) and results[4].coupon is not None
    assert results[4].coupon.coupon_id == "s1.2"
    assert store.status("s1").issued == 2
    assert engine.claim(twin, OPEN_S + 5) == results[0]  # and later, one by one
    with pytest.raises(RequestConflict):
        engine.claim(impostor, OPEN_S + 5)


def _mixed_requests(seed: int) -> list[ClaimRequest]:
    """Claims that hit every check: a card limit, replays, conflicts, the daily quota."""
    rng = random.Random(seed)
    requests: list[ClaimRequest] = []
    for index in range(60):
        if requests and rng.random() < 0.15:
            earlier = rng.choice(requests)
            requests.append(earlier if rng.random() < 0.7 else earlier._replace(ip="9.9.9.9"))
            continue
        card = f"card-{rng.randrange(12)}"
        requests.append(ClaimRequest(f"m{index}", "s1", f"c{rng.randrange(40)}", card=card))
    return requests


def _random_stock() -> Any:
    """A random 立减金 stock with a daily quota and a card limit, short of budget."""
    value = RandomAmount(tiers=(Tier(100, 3), Tier(700, 1)))
    limits = (Limit(Subject.CARD, Period.DAY, 2),)
    return voucher_stock(quota=40, budget_fen=2_000, daily_quota=30, value=value, limits=limits)


@pytest.mark.parametrize("kind", BATCHED)
def test_a_batch_equals_its_claims_one_by_one(open_batched: Any, kind: str) -> None:
    one_by_one, batched = open_batched(kind), open_batched(kind)
    engines = [Engine(store, seed=11) for store in (one_by_one, batched)]
    for engine in engines:
        engine.create_stock(_random_stock(), "c", T0_S)
    requests = _mixed_requests(seed=4)
    expected: list[ClaimResult | type[BaseException]] = []
    for request in requests:
        try:
            expected.append(engines[0].claim(request, OPEN_S))
        except RequestConflict:
            expected.append(RequestConflict)
    got = in_one_batch(batched, engines[1], requests)
    assert [type(item) if isinstance(item, BaseException) else item for item in got] == expected
    assert {Outcome.OK, Outcome.LIMIT_REACHED, Outcome.BUDGET_EXHAUSTED} <= {
        item.outcome for item in expected if isinstance(item, ClaimResult)
    }
    for read in ("status", "limit_usage"):
        assert getattr(one_by_one, read)("s1") == getattr(batched, read)("s1")
    for listing in ("coupons", "ledger", "issued_claims"):
        assert list(getattr(one_by_one, listing)("s1")) == list(getattr(batched, listing)("s1"))
    assert engines[1].reconcile("s1").ok


def test_sqlite_bulk_rows_equal_one_transaction_per_claim(tmp_path: Path) -> None:
    """Byte for byte: the tables written by bulk runs equal those of single claims."""
    paths = [tmp_path / "bulk.db", tmp_path / "single.db"]
    stores = [SqliteStore(paths[0]), SqliteStore(paths[1], max_batch=1)]
    for store in stores:
        engine = Engine(store, seed=11)
        engine.create_stock(_random_stock(), "c", T0_S)
        try:
            in_one_batch(store, engine, _mixed_requests(seed=9)) if store is stores[0] else [
                _claim_or_conflict(engine, request) for request in _mixed_requests(seed=9)
            ]
        finally:
            store.close()
    tables = ("stocks", "daily", "limits", "coupons", "claim_persons", "ledger", "outcomes")
    dumps = []
    for path in paths:
        raw = sqlite3.connect(path)
        dumps.append(
            {t: raw.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}
        )
        raw.close()
    assert dumps[0] == dumps[1]


def _claim_or_conflict(engine: Engine, request: ClaimRequest) -> ClaimResult | None:
    try:
        return engine.claim(request, OPEN_S)
    except RequestConflict:
        return None


def test_a_failing_bulk_run_is_redone_job_by_job(tmp_path: Path) -> None:
    """A bulk function that raises after writing leaves nothing; each job then runs alone and
    keeps its own result or error."""
    writer = GroupCommitWriter(lambda: sqlite3.connect(tmp_path / "w.db", isolation_level=None))
    writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))

    def bulk(connection: sqlite3.Connection, payloads: Any) -> list[int]:
        connection.executemany("INSERT INTO t VALUES (?)", [(-p,) for p in payloads])
        raise ValueError("a bug in the bulk path")

    def alone(payload: int) -> Any:
        def run(connection: sqlite3.Connection) -> int:
            if payload == 2:
                raise KeyError(payload)
            connection.execute("INSERT INTO t VALUES (?)", (payload,))
            return payload

        return run

    async def main() -> list[Any]:
        release = threading.Event()
        writer.submit_async(lambda c: release.wait(10))
        futures = [writer.submit_async(alone(p), bulk, p) for p in (1, 2, 3)]
        release.set()
        return await asyncio.gather(*futures, return_exceptions=True)

    results = asyncio.run(main())
    assert results[0] == 1 and isinstance(results[1], KeyError) and results[2] == 3
    assert writer.submit(lambda c: c.execute("SELECT x FROM t ORDER BY x").fetchall()) == [
        (1,),
        (3,),
    ]
    writer.close()


def test_a_closed_sqlite_store_fails_awaited_claims(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "closed.db")
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(), "c", T0_S)
    step = engine.claim_step(ClaimRequest("r", "s1", "c"), OPEN_S)
    store.close()

    async def main() -> None:
        assert isinstance(step, ClaimAdmission)
        with pytest.raises(StoreUnavailable, match="closed"):
            await store.claim_async(*step)

    asyncio.run(main())


@pytest.mark.redis
def test_an_unreachable_redis_fails_every_claim_of_the_call(open_batched: Any) -> None:
    store = open_batched("redis")
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(), "c", T0_S)
    steps = [engine.claim_step(ClaimRequest(f"r{i}", "s1", f"c{i}"), OPEN_S) for i in range(3)]
    store.url = "redis://127.0.0.1:1/3"  # nothing listens there

    async def main() -> list[Any]:
        results = await asyncio.gather(
            *(store.claim_async(*step) for step in steps),  # type: ignore[misc]
            return_exceptions=True,
        )
        await store.aclose()
        return results

    results = asyncio.run(main())
    assert all(isinstance(result, StoreUnavailable) for result in results), results
    assert store.status("s1").issued == 0
