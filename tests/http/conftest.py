"""Fixtures of the HTTP tests: one server per store configuration, started on first use, shared
by the session and stopped at its end. Redis servers use their own database numbers (11, 12),
flushed before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from http_kit import _REDIS_DB, CONFIGS, Api, Server, flush_redis, server_for


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """Lazily started servers by configuration, all stopped at the end of the session."""
    started: dict[str, Server] = {}
    yield started
    for config, server in started.items():
        server.stop()
        if config in _REDIS_DB:
            flush_redis(_REDIS_DB[config])


@pytest.fixture(params=CONFIGS)
def server(request: pytest.FixtureRequest, servers: dict[str, Server], tmp_path_factory: Any):
    return server_for(request.param, servers, tmp_path_factory)


@pytest.fixture(scope="session")
def clients() -> Iterator[dict[str, Api]]:
    """One client per server for the session (an httpx client costs ~40 ms to build)."""
    made: dict[str, Api] = {}
    yield made
    for client in made.values():
        client.client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def api(
    request: pytest.FixtureRequest,
    servers: dict[str, Server],
    clients: dict[str, Api],
    tmp_path_factory: Any,
) -> Api:
    """The contract suite runs unchanged against each store."""
    url = server_for(request.param, servers, tmp_path_factory).url
    if url not in clients:
        clients[url] = Api(url)
    return clients[url]
