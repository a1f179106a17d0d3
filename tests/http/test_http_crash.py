"""``kill -9`` the server (SQLite store) in the middle of a claim storm and restart it on the same
file: every claim that got a 201 is there, the ledger reconciles, nothing is over-issued, and a
retry of any request id (answered or not) is idempotent across the crash.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from http_kit import STORM, Api, Server, sqlite_available, storm

pytestmark = pytest.mark.skipif(not sqlite_available(), reason="engine.store.sqlite missing")

CLAIMS = 600
QUOTA = 450  # below CLAIMS: some requests that never got an answer may still sell out


def _start_storm(url: str, stock_id: str, processes: int) -> list[subprocess.Popen[bytes]]:
    start_at = time.time() + 0.5
    requests = [
        {
            "index": i,
            "path": f"/v1/stocks/{stock_id}/claims",
            "body": {"request_id": f"k{i}", "customer_id": f"c{i}"},
        }
        for i in range(CLAIMS)
    ]
    children = []
    for share in (requests[p::processes] for p in range(processes)):
        child = subprocess.Popen(
            [sys.executable, str(STORM)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert child.stdin is not None
        child.stdin.write(
            json.dumps({"base_url": url, "start_at": start_at, "requests": share}).encode()
        )
        child.stdin.close()
        children.append(child)
    return children


def _collect(children: list[subprocess.Popen[bytes]], answers: list[dict[str, Any]]) -> list[Any]:
    """Reader threads that append every answer line as soon as it arrives."""

    def read(child: subprocess.Popen[bytes]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            answers.append(json.loads(line))
        child.stdout.close()

    threads = [threading.Thread(target=read, args=(child,)) for child in children]
    for thread in threads:
        thread.start()
    return threads


def test_kill_9_mid_storm_loses_no_acknowledged_claim(tmp_path: Path) -> None:
    store = f"sqlite:{tmp_path / 'crash.sqlite3'}"
    server = Server(store, log=tmp_path / "log").start()
    api = Api(server.url)
    sid = api.create_stock(quota=QUOTA, budget_fen=QUOTA * 5000)["id"]
    api.client.close()
    answers: list[dict[str, Any]] = []
    children = _start_storm(server.url, sid, processes=4)
    readers = _collect(children, answers)
    deadline = time.monotonic() + 30
    while sum(a["status"] == 201 for a in answers) < 60 and time.monotonic() < deadline:
        time.sleep(0.002)
    server.kill9()  # SIGKILL while claims are in flight
    for child in children:
        child.wait(60)
    for thread in readers:
        thread.join()

    statuses = Counter(answer["status"] for answer in answers)
    assert statuses[201] >= 60
    assert statuses[0] > 0, f"the kill came after the storm: {statuses}"  # mid-storm indeed
    acknowledged = {
        f"k{a['index']}": a["body"]["coupon"]["coupon_id"] for a in answers if a["status"] == 201
    }

    server = Server(store, log=tmp_path / "log").start()
    api = Api(server.url)
    try:
        _, listing = api.call("GET", f"/v1/stocks/{sid}/claims", admin=True)
        stored = {claim["request_id"]: claim["coupon_id"] for claim in listing["claims"]}
        assert acknowledged.items() <= stored.items()  # every 201 survived, same coupon
        assert len(stored) <= QUOTA
        _, check = api.call("GET", f"/v1/stocks/{sid}/reconciliation")
        assert check["ok"] is True, check["mismatches"]
        assert check["replayed"]["issued"] == len(stored)

        retries = [  # everything again under the same request ids, concurrently
            {
                "path": f"/v1/stocks/{sid}/claims",
                "body": {"request_id": f"k{i}", "customer_id": f"c{i}"},
            }
            for i in range(CLAIMS)
        ]
        for answer in storm(server.url, retries, processes=4, delay_s=0.5):
            assert answer["status"] in {201, 409}, answer
            request_id = f"k{answer['index']}"
            if request_id in stored:
                assert answer["status"] == 201
                assert answer["body"]["coupon"]["coupon_id"] == stored[request_id]
        _, view = api.call("GET", f"/v1/stocks/{sid}")
        assert view["status"]["issued"] == QUOTA
        _, check = api.call("GET", f"/v1/stocks/{sid}/reconciliation")
        assert check["ok"] is True, check["mismatches"]
    finally:
        api.client.close()
        server.stop()
