"""The ASGI application in process (no server): what an unexpected failure answers and logs."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.coupon import Coupon
from engine.http import app as app_module
from engine.http import codec
from engine.http.app import ServiceConfig, create_app
from engine.http.errors import InvalidJson, RouteNotFound
from engine.http.handlers import Call, Response
from engine.http.threads import StoreThreads
from engine.outcomes import ClaimResult, Outcome

PHONE = "13755556666"


def _post(app: Any, path: str, body: bytes) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "client": ("1", 1)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


def test_an_unexpected_error_is_500_and_logs_neither_message_nor_payload(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(ServiceConfig(), "token")

    async def broken(call: Call) -> Response:
        raise KeyError(f"customer with phone {PHONE}")  # a bug that quotes the request

    claims = app.per_stock["claims"]["POST"]
    app.per_stock["claims"]["POST"] = claims._replace(handler=broken, now=None)
    with caplog.at_level(logging.DEBUG):
        status, body = _post(app, "/v1/stocks/s1/claims", f'{{"phone": "{PHONE}"}}'.encode())
    app.close()
    assert (status, body) == (500, b'{"error":"internal","message":"internal error (logged)"}')
    assert "unhandled KeyError on POST /v1/stocks/{id}/claims" in caplog.text
    assert "broken" in caplog.text  # the stack frames are there
    assert PHONE not in caplog.text


ids = st.text(min_size=1, max_size=20)  # any Unicode: escaped as the generic encoder does
seconds = st.one_of(st.floats(0, 1e12), st.integers(0, 10**12))


@settings(max_examples=300, deadline=None)
@given(ids, ids, ids, st.integers(0, 10**15), seconds, seconds, st.booleans(), st.lists(ids))
def test_the_fast_201_body_is_the_generic_encoding_byte_for_byte(
    coupon_id: str,
    stock_id: str,
    customer_id: str,
    value_fen: int,
    claimed_s: float,
    valid_until_s: float,
    flagged: bool,
    reasons: list[str],
) -> None:
    coupon = Coupon(coupon_id, stock_id, customer_id, value_fen, claimed_s, valid_until_s)
    result = ClaimResult(Outcome.OK, coupon, flagged, tuple(reasons))
    assert codec.claim_created(result) == codec.dumps(codec.claim_dict(result))


def test_store_threads_run_calls_concurrently_and_return_results_and_errors() -> None:
    pool = StoreThreads(4)
    barrier = threading.Barrier(4, timeout=5)  # passes only if 4 calls run at the same time

    def meet(value: int) -> int:
        barrier.wait()
        return value * 2

    def fail() -> None:
        raise KeyError("boom")

    async def main() -> tuple[list[int], BaseException]:
        doubled = await asyncio.gather(*(pool.run(meet, i) for i in range(4)))
        with pytest.raises(KeyError) as raised:
            await pool.run(fail)
        return list(doubled), raised.value

    doubled, error = asyncio.run(main())
    pool.shutdown()
    assert doubled == [0, 2, 4, 6]
    assert isinstance(error, KeyError)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: (" " + json.dumps(value, indent=1) + "\n").encode()),
    st.binary(max_size=40),
    st.text(max_size=40).map(str.encode),
)


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_the_fast_json_parse_answers_as_the_full_decoder(body: bytes) -> None:
    """The bare C scanner path gives the same value, or the same InvalidJson, as the decoder."""
    try:
        expected = codec._parse_json(body)
    except InvalidJson as error:
        with pytest.raises(InvalidJson) as raised:
            codec.parse_json(body)
        assert str(raised.value) == str(error)
        return
    got = codec.parse_json(body)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_each_store_gets_the_claim_path_that_fits(tmp_path: Any) -> None:
    """Memory: inline. SQLite without risk: the store step awaited (no thread per claim).
    SQLite with the risk gate: the whole Engine.claim in the pool (the early replay read)."""
    sqlite = f"sqlite:{tmp_path / 'paths.db'}"
    cases = [("memory", "none", "_claim_inline"), (sqlite, "none", "_claim_awaited")]
    cases.append(("memory", "default", "_claim_inline"))
    if importlib.util.find_spec("engine.risk") is not None:
        cases.append((sqlite, "default", "_claim_pooled"))
    for store_url, risk, path in cases:
        app = create_app(ServiceConfig(store_url=store_url, risk=risk), "token")
        assert app.handlers.claim.__name__.startswith(path), (store_url, risk)
        app.close()


def test_the_route_cache_is_bounded() -> None:
    app = create_app(ServiceConfig(), "token")
    for index in range(app_module.MATCH_CACHE_PATHS + 10):
        app.match(f"/v1/stocks/s{index}")
    assert len(app._matched) <= app_module.MATCH_CACHE_PATHS
    with pytest.raises(RouteNotFound):
        app.match("/nowhere")
    app.close()
