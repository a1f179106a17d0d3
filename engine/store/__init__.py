"""Stores: where a stock's counters, coupons, ledger and request outcomes live.

Every store honours :class:`engine.store.base.Store` and applies the pure decisions of
:mod:`engine.decide` in one atomic step. :func:`open_store` turns a ``--store`` URL into a store.
"""

from __future__ import annotations

from engine.store.base import Store
from engine.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store", "open_store"]


def open_store(url: str, *, early_replay_reads: bool = True) -> Store:
    """``memory``, ``sqlite:PATH`` or ``redis://HOST:PORT/DB`` → a store (clear error otherwise).

    ``early_replay_reads=False`` lets the SQLite and Redis stores answer :meth:`Store.prior` of a
    claim with None without reading (see :class:`~engine.store.sqlite.SqliteStore`).
    """
    from engine.errors import InvalidDefinition

    if url == "memory":
        return MemoryStore()
    if url.startswith("sqlite:"):
        from engine.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:"), early_replay_reads=early_replay_reads)
    if url.startswith("redis://"):
        from engine.store.redis import RedisStore

        return RedisStore(url, early_replay_reads=early_replay_reads)
    raise InvalidDefinition("store", url, "memory, sqlite:PATH or redis://HOST:PORT/DB")
