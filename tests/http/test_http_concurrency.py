"""Races over real HTTP: several client processes × one thread and connection per request, all
released at the same instant, against each store (and Redis behind two server processes).
"""

from __future__ import annotations

import json
from collections import Counter

from http_kit import Api, Server, storm


def claims(stock_id: str, bodies: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{"path": f"/v1/stocks/{stock_id}/claims", "body": body} for body in bodies]


def assert_reconciled(api: Api, stock_id: str, issued: int) -> dict[str, object]:
    status, check = api.call("GET", f"/v1/stocks/{stock_id}/reconciliation")
    assert status == 200
    assert check["ok"] is True, check["mismatches"]
    assert check["replayed"]["issued"] == issued
    status, listing = api.call("GET", f"/v1/stocks/{stock_id}/claims", admin=True)
    assert status == 200
    assert len(listing["claims"]) == issued
    return listing


def test_400_claims_against_quota_100_issue_exactly_100(server: Server) -> None:
    api = Api(server.url)
    # Budget for all 400: the quota alone must stop the storm (a budget that covers exactly 100
    # coupons would hide a broken quota check behind budget_exhausted).
    sid = api.create_stock(quota=100, budget_fen=400 * 5000)["id"]
    bodies = [{"request_id": f"q{i}", "customer_id": f"c{i}"} for i in range(400)]
    answers = storm(server.url, claims(sid, bodies), processes=4)
    assert Counter(answer["status"] for answer in answers) == {201: 100, 409: 300}
    assert {a["body"]["error"] for a in answers if a["status"] == 409} == {"sold_out"}
    coupon_ids = {a["body"]["coupon"]["coupon_id"] for a in answers if a["status"] == 201}
    assert len(coupon_ids) == 100
    listing = assert_reconciled(api, sid, 100)
    assert {claim["coupon_id"] for claim in listing["claims"]} == coupon_ids
    api.client.close()


def test_50_claims_by_one_customer_with_limit_1_issue_exactly_1(server: Server) -> None:
    api = Api(server.url)
    limits = [{"subject": "customer", "period": "campaign", "count": 1}]
    sid = api.create_stock(limits=limits)["id"]
    bodies = [{"request_id": f"l{i}", "customer_id": "greedy"} for i in range(50)]
    answers = storm(server.url, claims(sid, bodies), processes=2)
    assert Counter(answer["status"] for answer in answers) == {201: 1, 409: 49}
    assert {a["body"]["error"] for a in answers if a["status"] == 409} == {"limit_reached"}
    listing = assert_reconciled(api, sid, 1)
    assert [limit["used"] for limit in listing["limits"]] == [1]
    api.client.close()


def test_one_request_id_sent_20_times_at_once_issues_one_coupon(server: Server) -> None:
    api = Api(server.url)
    sid = api.create_stock()["id"]
    bodies = [{"request_id": "same", "customer_id": "twin", "card": "k"} for _ in range(20)]
    answers = storm(server.url, claims(sid, bodies), processes=2)
    assert len(answers) == 20
    assert {answer["status"] for answer in answers} == {201}
    assert len({json.dumps(answer["body"], sort_keys=True) for answer in answers}) == 1
    assert_reconciled(api, sid, 1)
    api.client.close()
