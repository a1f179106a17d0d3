"""An HTTP claim round trip through the ASGI app, in process (no socket, no server).

Measures what the service adds per claim on top of the engine: routing, body parsing and
validation, the engine call on the memory store, the JSON response and the metrics. The driver
below is the smallest ASGI client: one ``http`` scope, one ``http.request`` message, and it
collects the ``http.response.*`` messages. With the memory store the app never awaits real I/O,
so the coroutine finishes in a single ``send(None)`` and no event loop is timed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Coroutine, MutableMapping
from typing import Any

from engine import ClaimWindow, Limit, Period, StockSpec, Subject, Validity, Voucher
from engine.http.app import CouponlabApp, ServiceConfig, create_app
from engine.spec_io import stock_to_dict

ADMIN_TOKEN = "bench-admin-token"
STOCK_ID = "bench-http"


def finish(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that must not suspend (the memory store never awaits I/O)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise AssertionError("the ASGI app awaited real I/O; use an event loop for this store")


def request(
    app: CouponlabApp, method: str, path: str, body: bytes = b"", token: str | None = None
) -> tuple[int, bytes]:
    """One HTTP request through the ASGI interface; returns (status, body)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if token is not None:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    finish(app(scope, receive, send))
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


def stock_body() -> bytes:
    """A 满200减50 voucher, one per card per day, open for the whole benchmark (server clock)."""
    spec = StockSpec(
        STOCK_ID,
        Voucher(face_fen=5000, threshold_fen=20000),
        quota=10_000_000,
        budget_fen=10_000_000 * 5000,
        window=ClaimWindow(0.0, 4_000_000_000.0),
        validity=Validity(days_after_claim=7),
        limits=(Limit(Subject.CARD, Period.DAY, 1),),
    )
    return json.dumps(stock_to_dict(spec)).encode()


def test_bench_http_claim(benchmark: Any) -> None:
    app = create_app(ServiceConfig(store_url="memory", seed=7), ADMIN_TOKEN)
    status, body = request(app, "POST", "/v1/stocks", stock_body(), token=ADMIN_TOKEN)
    assert status == 201, body
    path = f"/v1/stocks/{STOCK_ID}/claims"
    counter = itertools.count()

    def claim() -> tuple[int, bytes]:
        index = next(counter)
        payload = {
            "request_id": f"r{index}",
            "customer_id": f"u{index}",
            "card": f"card-{index}",
            "device_id": f"d{index}",
            "ip": "10.0.0.1",
        }
        return request(app, "POST", path, json.dumps(payload).encode())

    status, body = benchmark(claim)
    assert status == 201, body
    reply = json.loads(body)
    assert reply["outcome"] == "ok"
    assert reply["coupon"]["value_fen"] == 5000
    issued = next(counter)  # every call so far claimed one coupon
    status, body = request(app, "GET", f"/v1/stocks/{STOCK_ID}")
    assert status == 200
    assert json.loads(body)["status"]["issued"] == issued
    app.close()
