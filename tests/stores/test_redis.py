"""Redis-only properties: the key layout is ready for Redis Cluster (one hash tag per stock, each
script inside one slot)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from store_workers import REDIS_URL
from test_contract import _mixed_workload

from engine.store.redis import RedisStore
from engine.store.redis_scripts import store_keys

pytestmark = pytest.mark.redis

TAG = re.compile(r"\{([^}]*)\}")


@pytest.fixture
def recorded() -> Iterator[tuple[RedisStore, list[tuple[str, list[str]]]]]:
    """A Redis store that records the keys of every script call."""
    store = RedisStore(REDIS_URL, prefix=f"test-{uuid.uuid4().hex[:12]}:")
    calls: list[tuple[str, list[str]]] = []
    run = store._run

    def recording(name: str, keys: Any, args: Any) -> list[str]:
        calls.append((name, list(keys)))
        return run(name, keys, args)

    store._run = recording  # type: ignore[method-assign]
    yield store, calls
    store.delete_all()
    store.close()


def _tag(key: str) -> str | None:
    """The Cluster hash tag of ``key``: what is inside the first non-empty ``{…}``."""
    found = TAG.search(key)
    return found.group(1) if found and found.group(1) else None


def test_every_script_touches_one_stock_slot(
    recorded: tuple[RedisStore, list[tuple[str, list[str]]]],
) -> None:
    store, calls = recorded
    _mixed_workload(store, seed=5)
    names = {name for name, _ in calls}
    assert {"create", "claim", "coupon", "apply", "expire", "budget", "record"} <= names
    global_keys = set(store_keys(store.prefix))
    for name, keys in calls:
        per_stock = [key for key in keys if key not in global_keys]
        if per_stock:  # a script over a stock: every key carries that stock's tag
            assert len({_tag(key) for key in per_stock}) == 1, (name, keys)
            assert None not in {_tag(key) for key in per_stock}, (name, keys)
        else:  # a store-wide script (expiry outcomes) touches exactly one key
            assert len(keys) == 1, (name, keys)
    stored = set(store._redis.scan_iter(match=store.prefix + "*"))
    assert stored
    for key in stored - global_keys:
        assert _tag(key) in {"s1", "r"}, key
