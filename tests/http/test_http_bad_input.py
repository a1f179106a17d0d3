"""Bad input gets a 4xx naming the field, never a 5xx, and never writes anything."""

from __future__ import annotations

import json
from typing import Any

import pytest
from http_kit import Api, stock

GOOD_CLAIM = {"request_id": "r-bad", "customer_id": "c-bad"}
GOOD_ORDER = {
    "request_id": "p-bad",
    "coupon_id": "x.1",
    "customer_id": "c",
    "lines": [{"line_id": "1", "amount_fen": 100}],
}

# (route, body, status, field named in the answer); route STOCK is filled in per test.
RAW = [
    ("claim", b"{", 400, None),
    ("claim", b"", 400, None),
    ("claim", b"\xff\xfe{}", 400, None),
    ("claim", b'{"request_id": NaN, "customer_id": "c"}', 400, None),
    ("claim", b'{"request_id": "r", "customer_id": "c"} trailing', 400, None),
    ("claim", b"[" * 50_000, 400, None),
    ("claim", b'{"request_id": "\\udb29", "customer_id": "c"}', 422, "request_id"),
    ("claim", b'{"request_id": "r", "\\ud800": "c"}', 422, "\ud800"),
    ("create", b'{"id": "s", "name": "\\udfff"}', 422, "name"),
    ("claim", b'{"request_id": "r", "customer_id": "c", "ip": ' + b"9" * 5000 + b"}", 400, None),
    (
        "claim",
        b'{"request_id": "r", "customer_id": "c", "account_created_s": 1e400}',
        422,
        "account_created_s",
    ),
    ("create", b'{"id": "s", "quota": 1e400}', 422, "quota"),
    ("claim", b"[]", 422, "(body)"),
    ("claim", b"null", 422, "(body)"),
]


def _claim(**changes: Any) -> dict[str, Any]:
    body = {**GOOD_CLAIM, **changes}
    return {key: value for key, value in body.items() if value is not ...}


def _order(**changes: Any) -> dict[str, Any]:
    body = {**GOOD_ORDER, **changes}
    return {key: value for key, value in body.items() if value is not ...}


def _line(**changes: Any) -> dict[str, Any]:
    return _order(lines=[{"line_id": "1", "amount_fen": 100, **changes}])


BODIES = [
    ("claim", _claim(request_id=...), 422, "request_id"),
    ("claim", _claim(customer_id=...), 422, "customer_id"),
    ("claim", _claim(request_id=5), 422, "request_id"),
    ("claim", _claim(request_id=""), 422, "request_id"),
    ("claim", _claim(request_id="r" * 129), 422, "request_id"),
    ("claim", _claim(customer_id=None), 422, "customer_id"),
    ("claim", _claim(phone=13800000000), 422, "phone"),
    ("claim", _claim(is_new_customer="yes"), 422, "is_new_customer"),
    ("claim", _claim(account_created_s="yesterday"), 422, "account_created_s"),
    ("claim", _claim(account_created_s=1e300), 422, "account_created_s"),
    ("claim", _claim(colour="red"), 422, "colour"),
    ("redeem", _line(amount_fen=100.0), 422, "lines[0].amount_fen"),
    ("redeem", _line(amount_fen=99.5), 422, "lines[0].amount_fen"),
    ("redeem", _line(amount_fen="100"), 422, "lines[0].amount_fen"),
    ("redeem", _line(amount_fen=-1), 422, "lines[0].amount_fen"),
    ("redeem", _line(amount_fen=True), 422, "lines[0].amount_fen"),
    ("redeem", _line(amount_fen=10**30), 422, "lines[0].amount_fen"),
    ("redeem", _line(colour="red"), 422, "lines[0].colour"),
    ("redeem", _order(lines=[]), 422, "lines"),
    ("redeem", _order(lines=...), 422, "lines"),
    ("redeem", _order(lines={"line_id": "1"}), 422, "lines"),
    ("redeem", _order(lines=[GOOD_ORDER["lines"][0]] * 2), 422, "lines"),  # type: ignore[index]
    ("refund", {"request_id": "f", "redemption_id": "x", "amount_fen": 1.5}, 422, "amount_fen"),
    ("refund", {"request_id": "f", "redemption_id": "x"}, 422, "amount_fen"),
    (
        "budget",
        {"request_id": "b", "expected_budget_fen": 1, "new_budget_fen": 1e3},
        422,
        "new_budget_fen",
    ),
    (
        "budget",
        {"request_id": "b", "expected_budget_fen": "1", "new_budget_fen": 1},
        422,
        "expected_budget_fen",
    ),
    ("create", {**stock(), "quota": -1}, 422, "quota"),
    ("create", {**stock(), "quota": 10.0}, 422, "quota"),
    ("create", {**stock(), "budget_fen": 1.5}, 422, "budget_fen"),
    ("create", {**stock(), "budget_fen": 10**30}, 422, "budget_fen"),
    ("create", {**stock(), "face_fen": "5000"}, 422, "face_fen"),
    ("create", {**stock(), "colour": "red"}, 422, "colour"),
    ("create", {**stock(), "kind": "coupon"}, 422, "kind"),
    ("create", {**stock(), "timezone": "Mars/Olympus"}, 422, "timezone"),
    ("create", {**stock(), "window": {"start": "tomorrow", "end": 1}}, 422, "window.start"),
    (
        "create",
        {**stock(), "limits": [{"subject": "card", "period": "day", "count": 0}]},
        422,
        "limits[0].count",
    ),
    ("create", {**stock(), "name": ["x"]}, 422, "name"),
    ("create", {key: v for key, v in stock().items() if key != "window"}, 422, "window"),
]


def _send(api: Api, route: str, stock_id: str, content: bytes) -> tuple[int, Any]:
    paths = {
        "claim": ("POST", f"/v1/stocks/{stock_id}/claims", False),
        "redeem": ("POST", "/v1/redemptions", False),
        "refund": ("POST", "/v1/refunds", False),
        "budget": ("POST", f"/v1/stocks/{stock_id}/budget", True),
        "create": ("POST", "/v1/stocks", True),
    }
    method, path, admin = paths[route]
    return api.call(method, path, admin=admin, content=content)


def _cases() -> list[Any]:
    cases = [pytest.param(*case, id=f"{case[0]}-raw{index}") for index, case in enumerate(RAW)]
    for index, (route, body, status, field) in enumerate(BODIES):
        content = json.dumps(body).encode()
        cases.append(pytest.param(route, content, status, field, id=f"{route}-{field}-{index}"))
    return cases


_STOCKS: dict[str, str] = {}  # one untouched stock per server: every case checks it stays so


def _untouched_stock(api: Api) -> str:
    if api.url not in _STOCKS:
        _STOCKS[api.url] = api.create_stock()["id"]
    return _STOCKS[api.url]


@pytest.mark.parametrize(("route", "content", "status", "field"), _cases())
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    api: Api, route: str, content: bytes, status: int, field: str | None
) -> None:
    sid = _untouched_stock(api)
    answer_status, body = _send(api, route, sid, content)
    assert answer_status == status, body
    assert set(body) >= {"error", "message"}
    if field is not None:
        assert body["field"] == field
        assert body["message"].startswith(field)
    _, check = api.call("GET", f"/v1/stocks/{sid}/reconciliation")
    assert check["entries"] == 1  # the funding entry only
    assert check["replayed"]["budget_fen"] == 500_000
    assert api.call("GET", f"/v1/stocks/{sid}/claims", admin=True)[1]["claims"] == []


def test_a_body_over_the_limit_is_413(api: Api) -> None:
    sid = api.create_stock()["id"]
    huge = json.dumps({**GOOD_CLAIM, "segment": "x" * 200_000}).encode()
    status, body = api.call("POST", f"/v1/stocks/{sid}/claims", content=huge)
    assert (status, body["error"]) == (413, "body_too_large")
    chunks = iter([b'{"request_id": "r", "customer_id": "c", "segment": "', b"y" * 100_000, b'"}'])
    status, body = api.call("POST", f"/v1/stocks/{sid}/claims", content=chunks)  # chunked
    assert (status, body["error"]) == (413, "body_too_large")
    _, view = api.call("GET", f"/v1/stocks/{sid}")
    assert view["status"]["issued"] == 0
