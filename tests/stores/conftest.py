"""Fixtures of the store contract suite: every test taking ``kind`` runs against the memory,
SQLite and Redis stores (Redis tests carry the ``redis`` marker; each uses its own key prefix in
database 3 and deletes it afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_workers import Opener, open_store

from engine.store.base import Store
from engine.store.redis import RedisStore

KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def location(kind: str, tmp_path: Path) -> str:
    """What several store instances share: a file for sqlite, a key prefix for redis."""
    if kind == "sqlite":
        return str(tmp_path / "coupons.db")
    return f"test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def opener(kind: str, location: str) -> Iterator[Opener]:
    """Opens store instances over one backing (memory: always the same instance)."""
    opened: list[Store] = []

    def open_one() -> Store:
        if kind == "memory" and opened:
            return opened[0]
        store = open_store(kind, location)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        if isinstance(store, RedisStore):
            store.delete_all()
        store.close()


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener()
