"""Helpers of the HTTP tests: real ``python -m couponlab.cli serve`` subprocesses on free
127.0.0.1 ports, a small JSON client, a stock factory and the claim storm driver."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
STORM = Path(__file__).with_name("storm.py")
TOKEN = "test-admin-token-" + uuid.uuid4().hex[:8]
REDIS = ("127.0.0.1", 6379)
SEED = 20261127


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_available() -> bool:
    if importlib.util.find_spec("engine.store.redis") is None:
        return False
    try:
        with socket.create_connection(REDIS, timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def sqlite_available() -> bool:
    return importlib.util.find_spec("engine.store.sqlite") is not None


def flush_redis(db: int) -> None:
    import redis

    client = redis.Redis(*REDIS, db=db)
    client.flushdb()
    client.close()


class Server:
    """One ``couponlab serve`` subprocess."""

    def __init__(
        self,
        store: str,
        *extra: str,
        log: Path,
        token: str | None = TOKEN,
        entry: tuple[str, ...] = ("engine.http.cli",),
    ) -> None:
        self.token = token  # None: let the server generate one
        self.entry = entry  # ("couponlab.cli", "serve") for the full entry point (slower start)
        self.store = store
        self.extra = extra
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> Server:
        command = [sys.executable, "-m", *self.entry, "--store", self.store]
        command += ["--port", str(self.port), "--seed", str(SEED), *self.extra]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("COUPONLAB_ADMIN_TOKEN", None)
        if self.token is not None:
            env["COUPONLAB_ADMIN_TOKEN"] = self.token
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None


class Api:
    """A small client: JSON in, (status, JSON) out; admin calls carry the token."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=30)

    def call(self, method: str, path: str, body: Any = None, *, admin: bool = False, **kw: Any):
        headers = {"authorization": f"Bearer {TOKEN}"} if admin else {}
        headers.update(kw.pop("headers", {}))
        if body is not None and "content" not in kw:
            kw["content"] = json.dumps(body).encode()
        response = self.client.request(method, path, headers=headers, **kw)
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        return response.status_code, payload

    def create_stock(self, **overrides: Any) -> dict[str, Any]:
        definition = stock(**overrides)
        status, body = self.call("POST", "/v1/stocks", definition, admin=True)
        assert status == 201, body
        return definition

    def claim(self, stock_id: str, **fields: Any) -> tuple[int, Any]:
        return self.call("POST", f"/v1/stocks/{stock_id}/claims", fields)


def stock(**overrides: Any) -> dict[str, Any]:
    """A voucher stock (满200减50) open from an hour ago for a week, in the spec_io format."""
    now = time.time()
    definition: dict[str, Any] = {
        "id": "s-" + uuid.uuid4().hex[:12],
        "name": "test 满200减50",
        "kind": "voucher",
        "face_fen": 5000,
        "threshold_fen": 20000,
        "quota": 100,
        "budget_fen": 100 * 5000,
        "window": {"start": now - 3600, "end": now + 7 * 86400},
        "validity": {"days_after_claim": 7},
    }
    definition.update(overrides)
    return definition


def storm(
    url: str, requests: list[dict[str, Any]], processes: int = 4, *, delay_s: float = 0.8
) -> list[dict[str, Any]]:
    """Send ``requests`` at once from ``processes`` processes × threads; answers by index."""
    start_at = time.time() + delay_s
    for index, request in enumerate(requests):
        request["index"] = index
    shares = [requests[i::processes] for i in range(processes)]
    children = [
        subprocess.Popen(
            [sys.executable, str(STORM)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in shares
    ]
    for child, share in zip(children, shares, strict=True):
        assert child.stdin is not None
        child.stdin.write(
            json.dumps({"base_url": url, "start_at": start_at, "requests": share}).encode()
        )
        child.stdin.close()
    answers: list[dict[str, Any]] = []
    for child in children:
        assert child.stdout is not None
        out = child.stdout.read()
        child.stdout.close()
        child.wait(60)
        answers += [json.loads(line) for line in out.splitlines()]
    return sorted(answers, key=lambda answer: answer["index"])


# -- store configurations and their servers ---------------------------------------------------

CONFIGS = ["memory", "sqlite", "sqlite-2workers", "redis", "redis-2workers"]
_REDIS_DB = {"redis": 11, "redis-2workers": 12}


def store_url(config: str, directory: Path) -> str:
    if config == "memory":
        return "memory"
    if config.startswith("sqlite"):
        return f"sqlite:{directory / 'coupons.sqlite3'}"
    return f"redis://127.0.0.1:6379/{_REDIS_DB[config]}"


def skip_unless_available(config: str) -> None:
    if config.startswith("sqlite") and not sqlite_available():
        pytest.skip("engine.store.sqlite is not there yet")
    if config.startswith("redis") and not redis_available():
        pytest.skip("engine.store.redis or the Redis server on 127.0.0.1:6379 is missing")


def server_for(config: str, servers: dict[str, Server], tmp_path_factory: Any) -> Server:
    skip_unless_available(config)
    if config not in servers:
        directory = tmp_path_factory.mktemp(config)
        if config in _REDIS_DB:
            flush_redis(_REDIS_DB[config])
        extra = ("--workers", "2") if config.endswith("2workers") else ()
        servers[config] = Server(
            store_url(config, directory), *extra, log=directory / "log"
        ).start()
    return servers[config]
