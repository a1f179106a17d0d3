"""The verdict's checks: each passes on a clean run and fails on data crafted to break it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from loadtest.checker import ServerView, check
from loadtest.records import Attempt, fates

OPEN_S = 1_795_000_000.0  # a Friday 10:00 in Asia/Shanghai is not needed: the window is absolute
DAY_S = 86_400.0


def attempt(
    request_id: str, outcome: str, coupon_id: str = "", sent_s: float = 1.0, **fields: Any
) -> Attempt:
    status = {"ok": 201, "sold_out": 409, "limit": 409, "timeout": 0, "5xx": 503,
              "rate_limited": 429, "rejected_other": 422, "risk_rejected": 403,
              "not_open": 425}[outcome]  # fmt: skip
    number = request_id.removeprefix("r")
    base = Attempt(
        request_id, "EarlyCustomer", 1, f"c{number}", f"card-{number}", f"dev-{number}",
        "10.0.0.1", OPEN_S + sent_s, OPEN_S + sent_s + 0.01, status, "", outcome, coupon_id,
        OPEN_S + sent_s if coupon_id else 0.0,
    )  # fmt: skip
    return base._replace(**fields)


def claim(request_id: str, coupon_id: str, at_s: float = 1.0, **fields: Any) -> dict[str, Any]:
    number = request_id.removeprefix("r")
    row = {"request_id": request_id, "customer_id": f"c{number}", "device_id": f"dev-{number}",
           "card": f"card-{number}", "ip": "10.0.0.1", "coupon_id": coupon_id, "value_fen": 5000,
           "claimed_s": OPEN_S + at_s}  # fmt: skip
    return {**row, **fields}


def server(claims: list[dict[str, Any]], **changes: Any) -> ServerView:
    stock = {"id": "s", "quota": 3, "timezone": "Asia/Shanghai",
             "limits": [{"subject": "card", "period": "day", "count": 1}]}  # fmt: skip
    view = ServerView(
        stock=stock,
        status={"issued": len(claims)},
        claims=claims,
        limits=[],
        reconciliation={"ok": True, "mismatches": [], "entries": len(claims) + 1},
    )
    return dataclasses.replace(view, **changes)


def stock_of(view: ServerView) -> dict[str, Any]:
    """The stock table of a crafted view (a dict: tests edit it in place)."""
    assert isinstance(view.stock, dict)
    return view.stock


def clean() -> tuple[list[Attempt], ServerView]:
    attempts = [
        attempt("r1", "ok", "s.1"),
        attempt("r2", "ok", "s.2"),
        attempt("r3", "timeout"),  # its fate is unknown: it may or may not have been issued
        attempt("r4", "sold_out"),
    ]
    return attempts, server([claim("r1", "s.1"), claim("r2", "s.2"), claim("r3", "s.3")])


def failed(attempts: list[Attempt], view: ServerView) -> set[str]:
    return {c.name for c in check(attempts, view, OPEN_S).failed()}


def test_a_clean_run_passes_every_check() -> None:
    verdict = check(*clean(), OPEN_S)
    assert verdict.passed, verdict.failed()
    assert len(verdict.checks) == 10
    assert verdict.to_dict()["passed"] is True


def test_no_answered_claim_is_no_verdict() -> None:
    assert failed([], server([])) == {"load applied (some claims answered)"}


def test_an_issued_coupon_nobody_asked_for_breaks_the_upper_bound() -> None:
    attempts, view = clean()
    view = server([*map(dict, view.claims), claim("r9", "s.4")])  # r9 was never sent by any client
    assert "ok <= issued <= ok + unknown" in failed(attempts, view)


def test_a_lost_acknowledged_claim_breaks_the_lower_bound_and_presence() -> None:
    attempts, view = clean()
    view = server([claim("r1", "s.1")])  # r2 got a 201 but the server forgot it
    assert {"ok <= issued <= ok + unknown", "every acknowledged coupon present"} <= failed(
        attempts, view
    )


def test_acknowledged_coupon_under_another_request_id_is_missing() -> None:
    attempts, _ = clean()
    view = server([claim("r1", "s.1"), claim("r3", "s.2")])
    assert "every acknowledged coupon present" in failed(attempts, view)


def test_over_issuance_breaks_the_quota() -> None:
    attempts = [attempt(f"r{i}", "ok", f"s.{i}") for i in range(1, 5)]
    view = server([claim(f"r{i}", f"s.{i}") for i in range(1, 5)])  # 4 coupons, quota 3
    assert failed(attempts, view) == {"issued <= quota"}


def test_daily_quota_is_checked_per_local_day() -> None:
    attempts, view = clean()
    stock_of(view)["daily_quota"] = 2
    assert failed(attempts, view) == {"issued <= quota"}
    spread = [claim("r1", "s.1"), claim("r2", "s.2"), claim("r3", "s.3", at_s=DAY_S)]
    assert "issued <= quota" not in failed(attempts, server(spread, stock=view.stock))


def test_claims_list_disagreeing_with_the_counter_fails() -> None:
    attempts, view = clean()
    view = dataclasses.replace(view, status={"issued": 2})
    assert "claims list == issued counter" in failed(attempts, view)


def test_two_coupons_for_one_card_on_one_day_break_the_limit() -> None:
    attempts, _ = clean()
    claims = [claim("r1", "s.1"), claim("r2", "s.2"), claim("r3", "s.3", card="card-1")]
    assert failed(attempts, server(claims)) == {"no limit exceeded"}


def test_the_same_card_on_another_local_day_is_within_the_limit() -> None:
    attempts, _ = clean()
    claims = [claim("r1", "s.1"), claim("r2", "s.2"), claim("r3", "s.3", card="card-1",
                                                             at_s=DAY_S)]  # fmt: skip
    assert check(attempts, server(claims), OPEN_S).passed


def test_a_server_limit_counter_over_its_count_fails() -> None:
    attempts, view = clean()
    counter = {"limit": {"subject": "person", "period": "day", "count": 1},
               "subject_value": "p1", "period_key": 1, "used": 2}  # fmt: skip
    assert failed(attempts, dataclasses.replace(view, limits=[counter])) == {"no limit exceeded"}


def test_a_duplicate_coupon_id_on_the_server_fails() -> None:
    attempts, _ = clean()
    claims = [claim("r1", "s.1"), claim("r2", "s.2"), claim("r3", "s.2")]
    assert "no duplicate coupon id" in failed(attempts, server(claims))


def test_one_coupon_acknowledged_to_two_request_ids_fails() -> None:
    attempts, view = clean()
    attempts[1] = attempts[1]._replace(coupon_id="s.1")
    assert "no duplicate coupon id" in failed(attempts, view)


def test_a_claim_before_the_opening_fails() -> None:
    attempts, _ = clean()
    claims = [claim("r1", "s.1", at_s=-0.5), claim("r2", "s.2"), claim("r3", "s.3")]
    assert failed(attempts, server(claims)) == {"no claim before the window opened"}


def test_an_acknowledgement_received_before_the_opening_fails() -> None:
    attempts, view = clean()
    attempts[0] = attempts[0]._replace(sent_s=OPEN_S - 1, done_s=OPEN_S - 0.5)
    assert failed(attempts, view) == {"no claim before the window opened"}


def test_a_replay_with_another_answer_fails() -> None:
    attempts, view = clean()
    replay = attempts[0]._replace(attempt=2, status=409, outcome="sold_out", coupon_id="")
    assert failed([*attempts, replay], view) == {"one outcome per request id"}


def test_a_retry_after_a_timeout_that_gets_the_coupon_is_consistent() -> None:
    attempts, view = clean()
    retry = attempts[2]._replace(attempt=2, status=201, outcome="ok", coupon_id="s.3")
    verdict = check([*attempts, retry], view, OPEN_S)
    assert verdict.passed, verdict.failed()


def test_a_failed_reconciliation_fails() -> None:
    attempts, view = clean()
    broken = {"ok": False, "mismatches": ["reserved_fen"], "entries": 4}
    assert failed(attempts, dataclasses.replace(view, reconciliation=broken)) == {
        "reconciliation ok"
    }


@pytest.mark.parametrize("period", ["week", "month", "campaign"])
def test_longer_periods_count_across_days(period: str) -> None:
    attempts, view = clean()
    stock_of(view)["limits"] = [{"subject": "customer", "period": period, "count": 1}]
    claims = [claim("r1", "s.1"), claim("r2", "s.2"), claim("r3", "s.3", customer_id="c1",
                                                             at_s=3600)]  # fmt: skip
    assert failed(attempts, server(claims, stock=view.stock)) == {"no limit exceeded"}


# An answer given before the store's idempotent step (the per-IP rate limiter's 429, a 422 for
# bad input) says nothing about an earlier attempt of the same request id that timed out: the
# server may hold its coupon. Only the store's answers (201, 409, 403 risk, 425) settle it.


@pytest.mark.parametrize("early_answer", ["rate_limited", "rejected_other"])
def test_a_pre_store_answer_after_a_timeout_leaves_the_request_unknown(early_answer: str) -> None:
    attempts, view = clean()  # r3 timed out and the server issued s.3 for it
    retry = attempts[2]._replace(attempt=2, status=429, outcome=early_answer, sent_s=OPEN_S + 2)
    folded = fates([*attempts, retry])
    assert folded["r3"].outcome == "timeout" and folded["r3"].attempts == 2
    verdict = check([*attempts, retry], view, OPEN_S)
    assert verdict.passed, verdict.failed()


@pytest.mark.parametrize("store_answer", ["sold_out", "risk_rejected", "not_open"])
def test_an_answer_of_the_stores_step_after_a_timeout_settles_the_request(
    store_answer: str,
) -> None:
    attempts, _ = clean()
    retry = attempts[2]._replace(attempt=2, outcome=store_answer, sent_s=OPEN_S + 2)
    assert fates([*attempts, retry])["r3"].outcome == store_answer
    # ... so a coupon on the server for that request id is one nobody was told about
    view = server([claim("r1", "s.1"), claim("r2", "s.2"), claim("r3", "s.3")])
    assert "ok <= issued <= ok + unknown" in failed([*attempts, retry], view)


def test_a_pre_store_answer_before_the_coupon_is_not_a_second_outcome() -> None:
    attempts, view = clean()
    limited = attempts[0]._replace(status=429, outcome="rate_limited", coupon_id="")
    retry = attempts[0]._replace(attempt=2, sent_s=OPEN_S + 2, done_s=OPEN_S + 2.01)
    verdict = check([limited, retry, *attempts[1:]], view, OPEN_S)
    assert verdict.passed, verdict.failed()


def test_a_lone_rate_limited_request_is_definite_not_unknown() -> None:
    folded = fates([attempt("r5", "rate_limited")])
    assert folded["r5"].outcome == "rate_limited"  # never reached the store: nothing issued
