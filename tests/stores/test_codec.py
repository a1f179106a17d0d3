"""The codec of durable stores: every value survives encode/decode exactly; request texts are
canonical fingerprints."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    BudgetAdjustment,
    ClaimRequest,
    ExpiryRequest,
    OrderLine,
    Outcome,
    RedemptionRequest,
    RefundRequest,
)
from engine.coupon import Coupon, CouponState
from engine.ledger import LedgerEntry, Movement, replay
from engine.outcomes import (
    BudgetResult,
    ClaimResult,
    ExpiryResult,
    Redemption,
    RedemptionResult,
    RefundResult,
)
from engine.store import codec

COUPON = Coupon("s.7", "s", "客户-1", 5000, 1_800_000_000.123456, 1_800_604_800.5)
REDEMPTION = Redemption("r-x", "s.7", "s", "客户-1", 5000, 25001, (("a", 2500), ("b", 2500)), 1.5)
RESULTS = [
    ClaimResult(Outcome.OK, COUPON, True, ("ip_burst: 9 > 5",)),
    ClaimResult(Outcome.SOLD_OUT),
    RedemptionResult(Outcome.OK, REDEMPTION._replace(refunded_fen=3, clawed_back_fen=1)),
    RedemptionResult(Outcome.NOT_OWNER, None, False, ("r",)),
    RefundResult(Outcome.OK, 1000, True, REDEMPTION._replace(returned=True)),
    ExpiryResult(Outcome.OK, 3, 15000),
    BudgetResult(Outcome.BUDGET_CHANGED, 10**15),
]
REQUESTS = [
    ClaimRequest("c", "s", "u", "d", "p", "k", "1.2.3.4", "h", "new", True, 12.5),
    RedemptionRequest("p", "s.7", "u", (OrderLine("a", 1, "sku", "food"),), "d", "ip"),
    RefundRequest("f", "r-p", 10),
    ExpiryRequest("e", 99.25),
    BudgetAdjustment("b", "s", 1, 2),
]


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_results_round_trip_exactly(result: object) -> None:
    decoded = codec.decode_result(codec.encode_result(result))  # type: ignore[arg-type]
    assert decoded == result and type(decoded) is type(result)


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).__name__)
def test_requests_round_trip_and_fingerprint(request_: object) -> None:
    text = codec.encode_request(request_)  # type: ignore[arg-type]
    assert codec.decode_request(text) == request_
    assert codec.encode_request(codec.decode_request(text)) == text


def test_equal_requests_share_a_fingerprint_and_different_ones_do_not() -> None:
    a = ClaimRequest("c", "s", "u", account_created_s=5)
    assert codec.encode_request(a) == codec.encode_request(a._replace(account_created_s=5.0))
    assert codec.encode_request(a) != codec.encode_request(a._replace(customer_id="v"))
    assert codec.encode_request(ExpiryRequest("c", 1)) != codec.encode_request(a)


def test_account_deltas_agree_with_ledger_replay() -> None:
    entries = [
        LedgerEntry("s", movement, 100 + index, "r", "", 0.0)
        for index, movement in enumerate(Movement)
    ]
    status, _ = replay("s", entries)
    deltas = codec.account_deltas(entries)
    assert deltas == {
        "budget_fen": status.budget_fen,
        "available_fen": status.available_fen,
        "reserved_fen": status.reserved_fen,
        "spent_fen": status.spent_fen,
    }


def test_split_template_cuts_around_holes_in_order() -> None:
    hole = codec.new_hole()
    text = codec.encode_result(ClaimResult(Outcome.OK, COUPON._replace(coupon_id=f"s.{hole}")))
    head, tail = codec.split_template(text, (hole,))
    assert codec.decode_result(head + "7" + tail) == ClaimResult(Outcome.OK, COUPON)
    with pytest.raises(ValueError, match="missing"):
        codec.split_template(text, (codec.new_hole(),))
    assert CouponState.ISSUED.value in text


# -- the fast paths of the claim hot path equal the generic encoder ---------------------------

texts = st.text(max_size=12)  # any Unicode, quotes, controls and lone surrogates included
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**18), 10**18)
)
odd = st.one_of(st.none(), st.booleans(), st.floats(), texts)  # types the formats do not assume


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=9, max_size=9), st.booleans(), st.one_of(st.none(), numbers))
def test_the_fast_claim_request_text_is_the_generic_encoding(
    fields: list[str], new: bool, created: float | None
) -> None:
    request = ClaimRequest(*fields, new, created)  # type: ignore[arg-type]
    assert codec.encode_request(request) == codec.dumps(codec.request_to_obj(request))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(Outcome)),
    st.one_of(st.none(), st.tuples(texts, texts, texts, st.integers(0, 10**15), numbers, numbers)),
    st.booleans(),
    st.lists(texts, max_size=3),
)
def test_the_fast_claim_result_text_is_the_generic_encoding(
    outcome: Outcome, coupon: tuple[Any, ...] | None, flagged: bool, reasons: list[str]
) -> None:
    result = ClaimResult(
        outcome, None if coupon is None else Coupon(*coupon), flagged, tuple(reasons)
    )
    assert codec.encode_result(result) == codec.dumps(codec.result_to_obj(result))


@settings(max_examples=100, deadline=None)
@given(odd, odd)
def test_values_of_other_types_take_the_generic_path(value: Any, seconds: Any) -> None:
    """Whatever the fast path cannot format is encoded (or refused) by the generic encoder."""
    coupon = Coupon("s.1", "s", "c", value, seconds, 2.0)  # type: ignore[arg-type]
    result = ClaimResult(Outcome.OK, coupon)
    try:
        expected = codec.dumps(codec.result_to_obj(result))
    except ValueError:  # NaN: refused both ways
        with pytest.raises(ValueError):
            codec.encode_result(result)
        return
    assert codec.encode_result(result) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"[A-Za-z0-9_.\-]{1,12}", fullmatch=True),
    st.integers(1, 10**12),
    texts,
    st.integers(0, 10**15),
    numbers,
    numbers,
    st.booleans(),
    st.lists(texts, max_size=3),
)
def test_the_issued_claim_template_joins_to_the_generic_encoding(
    stock_id: str,
    seq: int,
    customer_id: str,
    value_fen: int,
    claimed_s: float,
    valid_until_s: float,
    flagged: bool,
    reasons: list[str],
) -> None:
    pieces = codec.issued_claim_template(stock_id, flagged, tuple(reasons))
    holes = (str(seq), *map(codec.json_text, (customer_id, value_fen, claimed_s, valid_until_s)))
    joined = "".join(piece + hole for piece, hole in zip(pieces, holes, strict=False)) + pieces[-1]
    coupon = Coupon(f"{stock_id}.{seq}", stock_id, customer_id, value_fen, claimed_s, valid_until_s)
    result = ClaimResult(Outcome.OK, coupon, flagged, tuple(reasons))
    assert joined == codec.dumps(codec.result_to_obj(result))
    refused = ClaimResult(Outcome.SOLD_OUT, None, flagged, tuple(reasons))
    assert codec.refused_claim_text(Outcome.SOLD_OUT, flagged, tuple(reasons)) == codec.dumps(
        codec.result_to_obj(refused)
    )
