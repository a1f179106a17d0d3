"""The server around the API: the rate limit, what it logs, its command line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from http_kit import ROOT, Api, Server, stock

PHONE = "13711112222"
ID_HASH = "idcard-digest-5f1e0c"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A memory server with 5 claims/s per IP, access log and debug logging on."""
    log = tmp_path_factory.mktemp("limited") / "log"
    server = Server(
        "memory", "--rate-limit-per-ip", "5", "--access-log", "--log-level", "debug", log=log
    ).start()
    yield server
    server.stop()


def test_claims_over_the_per_ip_rate_get_429_and_are_not_recorded(limited: Server) -> None:
    api = Api(limited.url)
    sid = api.create_stock(quota=1000, budget_fen=1000 * 5000)["id"]
    started_s = time.monotonic()
    answers = [
        api.call(
            "POST",
            f"/v1/stocks/{sid}/claims",
            {"request_id": f"r{i}", "customer_id": f"c{i}", "phone": PHONE, "id_hash": ID_HASH},
        )
        for i in range(20)
    ]
    elapsed_s = time.monotonic() - started_s
    statuses = [status for status, _ in answers]
    allowed = 5 + 5 * elapsed_s  # the burst, plus what refilled meanwhile (however slow we were)
    assert 5 <= statuses.count(201) <= allowed + 1
    assert statuses.count(201) + statuses.count(429) == 20
    assert elapsed_s < 2.5, "too slow to reach the limit"  # 5 + 5 × 2.5 + 1 < 20: some 429
    first_limited = statuses.index(429)
    assert answers[first_limited][1]["error"] == "rate_limited"
    response = api.client.post(
        f"/v1/stocks/{sid}/claims", json={"request_id": "x", "customer_id": "y"}
    )
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert all(api.call("GET", f"/v1/stocks/{sid}")[0] == 200 for _ in range(20))  # claims only
    time.sleep(1.2)
    retry = {
        "request_id": f"r{first_limited}",
        "customer_id": f"c{first_limited}",
        "phone": PHONE,
        "id_hash": ID_HASH,
    }
    assert api.call("POST", f"/v1/stocks/{sid}/claims", retry)[0] == 201  # nothing was recorded
    api.client.close()


def test_phones_and_id_hashes_never_reach_the_log(limited: Server) -> None:
    api = Api(limited.url)
    sid = api.create_stock()["id"]
    api.call(
        "POST",
        f"/v1/stocks/{sid}/claims",
        {"request_id": "p1", "customer_id": "c", "phone": PHONE, "id_hash": ID_HASH},
    )
    api.call("POST", f"/v1/stocks/{sid}/claims", {"request_id": "p2", "phone": PHONE})  # 422
    api.client.close()
    output = limited.output()
    assert "POST /v1/stocks/" in output  # the access log is on, so the test can see requests
    assert PHONE not in output
    assert ID_HASH not in output


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "couponlab.cli", "serve", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_memory_store_refuses_several_workers() -> None:
    result = _serve("--store", "memory", "--workers", "2")
    assert result.returncode == 2
    assert "--workers 2 with --store memory" in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--store", "bogus"), "store"),
        (("--store", "redis://127.0.0.1:1/0"), "redis://127.0.0.1:1/0"),
        (("--port", "0"), "--port"),
        (("--max-body-bytes", "10"), "--max-body-bytes"),
    ],
)
def test_bad_flags_are_named_without_a_traceback(args: tuple[str, ...], named: str) -> None:
    result = _serve(*args)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_the_server_prints_url_seed_and_a_generated_token(tmp_path: Path) -> None:
    entry = ("couponlab.cli", "serve")  # the real entry point, once
    server = Server("memory", log=tmp_path / "log", token=None, entry=entry).start()
    try:
        output = server.output()
        assert f"http://127.0.0.1:{server.port}" in output
        assert "seed=" in output
        [token] = [
            line.split(": ", 1)[1]
            for line in output.splitlines()
            if line.startswith("admin token: ")
        ]
        client = httpx.Client(base_url=server.url)
        definition = stock()
        assert client.post("/v1/stocks", json=definition).status_code == 401
        headers = {"authorization": f"Bearer {token}"}
        assert client.post("/v1/stocks", json=definition, headers=headers).status_code == 201
        client.close()
    finally:
        server.stop()


@pytest.mark.skipif(importlib.util.find_spec("engine.risk") is None, reason="no engine.risk yet")
def test_risk_default_runs_claims_through_the_risk_engine(tmp_path: Path) -> None:
    server = Server("memory", "--risk", "default", log=tmp_path / "log").start()
    try:
        api = Api(server.url)
        sid = api.create_stock()["id"]
        status, body = api.claim(
            sid, request_id="r1", customer_id="c1", device_id="d1", ip="10.1.2.3"
        )
        assert status in {201, 403}, body
        assert "seed=" in server.output()
        api.client.close()
    finally:
        server.stop()
