"""The HTTP contract (docs/docs/contracts.md "HTTP API"), run unchanged against every store.

Each test creates its own stock, so the tests share one server per store.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from http_kit import TOKEN, Api, stock

STATUS_FIELDS = {
    "budget_fen",
    "available_fen",
    "reserved_fen",
    "spent_fen",
    "issued",
    "redeemed",
    "expired",
}


def rid() -> str:
    return uuid.uuid4().hex


def test_health_names_the_store(api: Api) -> None:
    status, body = api.call("GET", "/healthz")
    assert status == 200
    assert body["status"] == "ok"
    assert body["store"] in {"memory", "sqlite", "redis"}


def test_create_stock_is_admin(api: Api) -> None:
    definition = stock()
    status, body = api.call("POST", "/v1/stocks", definition)
    assert (status, body["error"]) == (401, "unauthorized")
    status, body = api.call(
        "POST", "/v1/stocks", definition, headers={"authorization": "Bearer wrong"}
    )
    assert (status, body["error"]) == (401, "unauthorized")
    status, created = api.call("POST", "/v1/stocks", definition, admin=True)
    assert status == 201
    assert created["stock"]["id"] == definition["id"]
    assert created["status"] == {
        "budget_fen": 500_000,
        "available_fen": 500_000,
        "reserved_fen": 0,
        "spent_fen": 0,
        "issued": 0,
        "redeemed": 0,
        "expired": 0,
    }


def test_create_stock_replays_its_first_answer_whatever_happened_since(api: Api) -> None:
    """The same request id with the same definition answers what the first call answered:
    201 and the stock as it was created, even after a claim. Without a request id it is
    ``create-<id>``, so re-sending the same body is a replay too."""
    definition = {**stock(), "request_id": rid()}
    first = api.call("POST", "/v1/stocks", definition, admin=True)
    assert first[0] == 201
    assert api.claim(definition["id"], request_id=rid(), customer_id="alice")[0] == 201
    assert api.call("POST", "/v1/stocks", definition, admin=True) == first
    assert first[1]["status"]["issued"] == 0
    plain = stock()
    created = api.call("POST", "/v1/stocks", plain, admin=True)
    assert created[0] == 201
    assert api.call("POST", "/v1/stocks", plain, admin=True) == created


def test_create_stock_under_a_new_request_id_answers_200_with_the_stock_now(api: Api) -> None:
    """A new request id for an existing stock with the same definition: 200 and the current
    status (its own first answer on a replay); another definition: 409 duplicate_stock under any
    request id; a request id used for another request: 409 request_conflict."""
    definition = api.create_stock()
    sid = definition["id"]
    claim_id = rid()
    assert api.claim(sid, request_id=claim_id, customer_id="alice")[0] == 201
    again = {**definition, "request_id": rid()}
    status, body = api.call("POST", "/v1/stocks", again, admin=True)
    assert (status, body["status"]["issued"]) == (200, 1)
    assert api.claim(sid, request_id=rid(), customer_id="bob")[0] == 201
    assert api.call("POST", "/v1/stocks", again, admin=True) == (200, body)  # issued 1 still
    for request_id in (f"create-{sid}", again["request_id"], rid()):
        different = {**definition, "quota": 7, "request_id": request_id}
        status, body = api.call("POST", "/v1/stocks", different, admin=True)
        assert (status, body["error"]) == (409, "duplicate_stock")
        assert sid in body["message"]
    reused = {**definition, "request_id": claim_id}
    status, body = api.call("POST", "/v1/stocks", reused, admin=True)
    assert (status, body["error"]) == (409, "request_conflict")
    status, body = api.claim(sid, request_id=f"create-{sid}", customer_id="carol")
    assert (status, body["error"]) == (409, "request_conflict")
    _, view = api.call("GET", f"/v1/stocks/{sid}")
    assert view["status"]["issued"] == 2


def test_racing_creations_answer_one_201_decided_by_the_store(api: Api) -> None:
    """12 creations of one stock at once under 12 request ids: exactly one 201, the others
    200, each replay answering its first status (a read before the write would let several
    see "absent" and answer 201); 12 copies of one request: 12 identical 201s."""
    definition = stock()
    requests = [{**definition, "request_id": rid()} for _ in range(12)]
    answers = _at_once(api, requests)
    assert sorted(status for status, _ in answers) == [200] * 11 + [201]
    assert all(body["stock"] == answers[0][1]["stock"] for _, body in answers)
    assert _at_once(api, requests) == answers
    same = {**stock(), "request_id": rid()}
    answers = _at_once(api, [same] * 12)
    assert answers == [answers[0]] * 12 and answers[0][0] == 201


def _at_once(api: Api, bodies: list[dict[str, object]]) -> list[tuple[int, Any]]:
    """POST every body to /v1/stocks, each from its own thread and connection, released at once."""
    barrier = threading.Barrier(len(bodies))

    def post(body: dict[str, object]) -> tuple[int, Any]:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            barrier.wait()
            response = client.post(
                "/v1/stocks", json=body, headers={"authorization": f"Bearer {TOKEN}"}
            )
            return response.status_code, response.json()

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_get_stock_and_unknown_stock(api: Api) -> None:
    definition = api.create_stock(quota=3, budget_fen=15_000)
    status, body = api.call("GET", f"/v1/stocks/{definition['id']}")
    assert status == 200
    assert body["stock"]["quota"] == 3
    assert set(body["status"]) == STATUS_FIELDS
    status, body = api.call("GET", "/v1/stocks/no-such-stock")
    assert (status, body["error"]) == (404, "unknown_stock")
    status, body = api.claim("no-such-stock", request_id=rid(), customer_id="c1")
    assert (status, body["error"]) == (404, "unknown_stock")


def test_claim_issues_and_a_replay_answers_the_same(api: Api) -> None:
    sid = api.create_stock()["id"]
    request = {
        "request_id": rid(),
        "customer_id": "alice",
        "card": "6222-1",
        "phone": "13800000001",
    }
    status, first = api.claim(sid, **request)
    assert status == 201
    assert first["outcome"] == "ok"
    assert first["flagged"] is False
    assert first["reasons"] == []
    coupon = first["coupon"]
    assert coupon["stock_id"] == sid
    assert coupon["customer_id"] == "alice"
    assert coupon["value_fen"] == 5000
    assert coupon["state"] == "issued"
    assert abs(coupon["claimed_s"] - time.time()) < 60  # the server's clock
    assert coupon["valid_until_s"] - coupon["claimed_s"] == 7 * 86400
    assert api.claim(sid, **request) == (201, first)
    status, body = api.claim(sid, **{**request, "customer_id": "mallory"})
    assert (status, body["error"]) == (409, "request_conflict")
    _, view = api.call("GET", f"/v1/stocks/{sid}")
    assert view["status"]["issued"] == 1
    assert view["status"]["reserved_fen"] == 5000


def test_claim_rejections_and_their_statuses(api: Api) -> None:
    limits = [{"subject": "card", "period": "day", "count": 1}]
    sid = api.create_stock(quota=2, budget_fen=10_000, limits=limits)["id"]
    assert api.claim(sid, request_id=rid(), customer_id="a", card="k1")[0] == 201
    status, body = api.claim(sid, request_id=rid(), customer_id="b", card="k1")
    assert (status, body["error"], body["outcome"]) == (409, "limit_reached", "limit_reached")
    status, body = api.claim(sid, request_id=rid(), customer_id="b")
    assert (status, body["error"]) == (403, "not_eligible")  # a limited subject is missing
    assert api.claim(sid, request_id=rid(), customer_id="c", card="k2")[0] == 201
    status, body = api.claim(sid, request_id=rid(), customer_id="d", card="k3")
    assert (status, body["error"]) == (409, "sold_out")
    rejected = {"request_id": rid(), "customer_id": "e", "card": "k4"}
    assert api.claim(sid, **rejected) == api.claim(sid, **rejected)  # rejections replay too


def test_window_and_eligibility(api: Api) -> None:
    later = time.time() + 86400
    sid = api.create_stock(window={"start": later, "end": later + 3600})["id"]
    status, body = api.claim(sid, request_id=rid(), customer_id="a")
    assert (status, body["error"]) == (425, "not_open")
    sid = api.create_stock(eligibility={"segments": ["new"]})["id"]
    status, body = api.claim(sid, request_id=rid(), customer_id="a", segment="regular")
    assert (status, body["error"]) == (403, "not_eligible")
    assert api.claim(sid, request_id=rid(), customer_id="a", segment="new")[0] == 201


def test_budget_exhausted(api: Api) -> None:
    sid = api.create_stock(quota=10, budget_fen=12_000)["id"]
    assert api.claim(sid, request_id=rid(), customer_id="a")[0] == 201
    assert api.claim(sid, request_id=rid(), customer_id="b")[0] == 201
    status, body = api.claim(sid, request_id=rid(), customer_id="c")
    assert (status, body["error"]) == (409, "budget_exhausted")


def test_redeem_refund_and_their_rejections(api: Api) -> None:
    sid = api.create_stock(refund_policy="forfeit")["id"]
    coupon = api.claim(sid, request_id=rid(), customer_id="alice")[1]["coupon"]
    lines = [{"line_id": "1", "amount_fen": 15_000}, {"line_id": "2", "amount_fen": 10_001}]
    order = {"request_id": rid(), "coupon_id": coupon["coupon_id"], "lines": lines}
    status, body = api.call("POST", "/v1/redemptions", {**order, "customer_id": "bob"})
    assert (status, body["error"]) == (403, "not_owner")
    status, body = api.call(
        "POST", "/v1/redemptions", {**order, "request_id": rid(), "customer_id": "alice"}
    )
    assert status == 201, body
    redemption = body["redemption"]
    assert redemption["discount_fen"] == 5000
    assert redemption["paid_fen"] == 25_001 - 5000
    assert sum(line["discount_fen"] for line in redemption["lines"]) == 5000
    status, body = api.call(
        "POST", "/v1/redemptions", {**order, "request_id": rid(), "customer_id": "alice"}
    )
    assert (status, body["error"]) == (409, "already_redeemed")
    refund = {"request_id": rid(), "redemption_id": redemption["redemption_id"]}
    status, body = api.call("POST", "/v1/refunds", {**refund, "amount_fen": 10_000})
    assert status == 201, body
    assert body["clawed_back_fen"] > 0
    status, body = api.call(
        "POST", "/v1/refunds", {**refund, "request_id": rid(), "amount_fen": 10**9}
    )
    assert (status, body["error"]) == (409, "refund_exceeds_paid")
    status, body = api.call(
        "POST",
        "/v1/refunds",
        {**refund, "redemption_id": "nope", "amount_fen": 1, "request_id": rid()},
    )
    assert (status, body["error"]) == (404, "unknown_redemption")
    assert body["message"] == "unknown redemption 'nope'"
    status, body = api.call(
        "POST",
        "/v1/redemptions",
        {**order, "request_id": rid(), "coupon_id": "nope", "customer_id": "alice"},
    )
    assert (status, body["error"]) == (404, "unknown_coupon")
    status, check = api.call("GET", f"/v1/stocks/{sid}/reconciliation")
    assert status == 200
    assert check["ok"] is True, check["mismatches"]
    assert check["replayed"]["redeemed"] == 1


def test_a_percentage_rounding_to_0_fen_is_not_applicable_and_leaves_the_coupon(
    api: Api,
) -> None:
    definition = {key: value for key, value in stock().items() if key != "face_fen"}
    definition.update(kind="discount", percent_off=10, cap_fen=3000, threshold_fen=0)
    assert api.call("POST", "/v1/stocks", definition, admin=True)[0] == 201
    sid = definition["id"]
    coupon = api.claim(sid, request_id=rid(), customer_id="alice")[1]["coupon"]
    order = {"coupon_id": coupon["coupon_id"], "customer_id": "alice"}
    tiny = {**order, "request_id": rid(), "lines": [{"line_id": "1", "amount_fen": 9}]}
    status, body = api.call("POST", "/v1/redemptions", tiny)
    assert (status, body["error"], body["outcome"]) == (409, "not_applicable", "not_applicable")
    assert "rounds to 0 fen" in body["message"] and "stays unused" in body["message"]
    real = {**order, "request_id": rid(), "lines": [{"line_id": "1", "amount_fen": 9000}]}
    status, body = api.call("POST", "/v1/redemptions", real)
    assert (status, body["redemption"]["discount_fen"]) == (201, 900)


def test_budget_adjustment_is_admin_and_compare_and_set(api: Api) -> None:
    sid = api.create_stock()["id"]
    change = {"request_id": rid(), "expected_budget_fen": 500_000, "new_budget_fen": 600_000}
    status, body = api.call("POST", f"/v1/stocks/{sid}/budget", change)
    assert (status, body["error"]) == (401, "unauthorized")
    status, body = api.call("POST", f"/v1/stocks/{sid}/budget", change, admin=True)
    assert (status, body) == (200, {"outcome": "ok", "budget_fen": 600_000})
    stale = {**change, "request_id": rid()}
    status, body = api.call("POST", f"/v1/stocks/{sid}/budget", stale, admin=True)
    assert (status, body["error"], body["budget_fen"]) == (409, "budget_changed", 600_000)
    status, body = api.call(
        "POST", "/v1/stocks/nope/budget", {**change, "request_id": rid()}, admin=True
    )
    assert (status, body["error"]) == (404, "unknown_stock")
    _, view = api.call("GET", f"/v1/stocks/{sid}")
    assert view["status"]["available_fen"] == 600_000


def test_claims_listing_is_admin_and_hides_phones(api: Api) -> None:
    limits = [{"subject": "phone", "period": "campaign", "count": 1}]
    sid = api.create_stock(limits=limits)["id"]
    phone = "13912345678"
    _, claimed = api.claim(
        sid,
        request_id="r-1",
        customer_id="a",
        phone=phone,
        device_id="d1",
        card="k1",
        ip="10.0.0.1",
    )
    assert api.call("GET", f"/v1/stocks/{sid}/claims")[0] == 401
    status, body = api.call("GET", f"/v1/stocks/{sid}/claims", admin=True)
    assert status == 200
    assert phone not in str(body)
    [claim] = body["claims"]
    assert claim["coupon_id"] == claimed["coupon"]["coupon_id"]
    assert (claim["request_id"], claim["device_id"], claim["card"], claim["ip"]) == (
        "r-1",
        "d1",
        "k1",
        "10.0.0.1",
    )
    [limit] = body["limits"]
    assert limit["limit"] == {"subject": "phone", "period": "campaign", "count": 1}
    assert limit["subject_value"] == claim["phone_hash"]
    unkeyed = hashlib.sha256(phone.encode()).hexdigest()
    assert claim["phone_hash"] not in unkeyed  # keyed: not reversible by hashing every phone
    assert limit["used"] == 1


def test_routes_methods_and_documents(api: Api) -> None:
    status, body = api.call("GET", "/v1/nothing")
    assert (status, body["error"]) == (404, "not_found")
    status, body = api.call("DELETE", "/v1/stocks")
    assert (status, body["error"]) == (405, "method_not_allowed")
    status, document = api.call("GET", "/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.")
    assert {"/v1/stocks", "/v1/stocks/{stock_id}/claims", "/v1/redemptions"} <= set(
        document["paths"]
    )
    sid = api.create_stock()["id"]
    api.claim(sid, request_id=rid(), customer_id="m")
    status, text = api.call("GET", "/metrics")
    assert status == 200
    assert 'couponlab_claims_total{outcome="ok"}' in text
    assert "couponlab_http_request_duration_seconds_bucket" in text
    assert 'couponlab_store_seconds_count{operation="claim"}' in text
    values = dict(line.split(" ") for line in text.splitlines() if line.startswith("process_"))
    assert set(values) == {
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
    }
    assert float(values["process_cpu_seconds_total"]) > 0
    assert int(values["process_resident_memory_bytes"]) > 10 * 2**20
    assert 0 < time.time() - float(values["process_start_time_seconds"]) < 24 * 3600
    assert "# TYPE process_cpu_seconds_total counter" in text


def test_admin_token_is_checked_exactly(api: Api) -> None:
    for header in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN[:-1]}"):
        status, _ = api.call("POST", "/v1/stocks", stock(), headers={"authorization": header})
        assert status == 401, header
