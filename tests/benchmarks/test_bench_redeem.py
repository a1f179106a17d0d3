"""Redemption benchmark: a 5-line order paid with a coupon, allocation on (issue 2: ≤ 15 µs).

Each call redeems a different coupon (claimed ahead, outside the measured call, in chunks), so
every call runs the whole redemption: ownership, validity, scope, the discount, the
largest-remainder allocation over the lines, the coupon's state change and two ledger movements.

Run: ``python -m pytest tests/benchmarks/test_bench_redeem.py --benchmark-only``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from engine import (
    ClaimRequest,
    ClaimWindow,
    Engine,
    MemoryStore,
    OrderLine,
    Outcome,
    RedemptionRequest,
    StockSpec,
    Validity,
    Voucher,
)
from engine.calendar import LocalCalendar

CHUNK = 10_000
CALENDAR = LocalCalendar("Asia/Shanghai")
OPEN_S = CALENDAR.at(2026, 12, 4, 10)
NOW_S = OPEN_S + 60.0
# 满200减50 over five lines worth 233.33 yuan: the discount splits with remainders.
LINES = tuple(
    OrderLine(f"line-{i}", amount, f"sku-{i}", "supermarket")
    for i, amount in enumerate((9_999, 6_667, 3_333, 2_001, 1_333))
)


def _stock() -> StockSpec:
    return StockSpec(
        "bench",
        Voucher(face_fen=5000, threshold_fen=20000),
        quota=10**9,
        budget_fen=10**9 * 5000,
        window=ClaimWindow(OPEN_S, OPEN_S + 86_400),
        validity=Validity(days_after_claim=7),
    )


def _redemptions(engine: Engine) -> Iterator[RedemptionRequest]:
    """Redemption requests forever, each for a fresh coupon claimed a chunk at a time."""

    def chunk(start: int) -> list[RedemptionRequest]:
        requests = []
        for i in range(start, start + CHUNK):
            claimed = engine.claim(ClaimRequest(f"c{i}", "bench", f"u{i}"), NOW_S)
            assert claimed.coupon is not None
            requests.append(RedemptionRequest(f"p{i}", claimed.coupon.coupon_id, f"u{i}", LINES))
        return requests

    def rest() -> Iterator[RedemptionRequest]:
        for start in itertools.count(CHUNK, CHUNK):
            yield from chunk(start)

    return itertools.chain(chunk(0), rest())


def test_bench_redeem(benchmark: Any) -> None:
    engine = Engine(MemoryStore(), seed=1)
    engine.create_stock(_stock(), "create", OPEN_S)
    requests = _redemptions(engine)
    redeem = engine.redeem
    redeemed_s = NOW_S + 3600

    def one_redemption() -> Any:
        return redeem(next(requests), redeemed_s)

    result = benchmark(one_redemption)
    assert result.outcome is Outcome.OK
    assert result.redemption.discount_fen == 5000
    assert sum(share for _, share in result.redemption.line_discounts) == 5000
    assert engine.reconcile("bench").ok
