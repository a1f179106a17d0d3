"""Shared building blocks of the engine tests: a calendar, the seeds' Friday stock, requests.

Times are engine seconds; ``SHANGHAI.at(...)`` turns a local wall-clock time into them.
2026-12-04 is a Friday.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from engine import (
    ClaimRequest,
    ClaimWindow,
    Engine,
    Limit,
    MemoryStore,
    OrderLine,
    Period,
    RedemptionRequest,
    StockSpec,
    Subject,
    Validity,
    Voucher,
    WeeklySlot,
)
from engine.calendar import LocalCalendar

SHANGHAI = LocalCalendar("Asia/Shanghai")
FRIDAY = SHANGHAI.at(2026, 12, 4)  # local midnight of a Friday
FRIDAY_10 = SHANGHAI.at(2026, 12, 4, 10)
DAY_S = 86_400
WEEK_S = 7 * DAY_S
SEASON = ClaimWindow(FRIDAY, FRIDAY + 13 * WEEK_S)
FRIDAYS_10_22 = ClaimWindow(FRIDAY, FRIDAY + 13 * WEEK_S, (WeeklySlot(4, 600, 1320),))


def stock(**changes: Any) -> StockSpec:
    """The seeds' 周五嗨购日 stock (满200减50, one per card per day, Fridays 10:00-22:00 in
    Asia/Shanghai, valid 7 days after claim), with ``changes`` applied."""
    spec = StockSpec(
        "friday",
        Voucher(face_fen=5000, threshold_fen=20000),
        quota=50_000,
        budget_fen=50_000 * 5000,
        window=FRIDAYS_10_22,
        validity=Validity(days_after_claim=7),
        limits=(Limit(Subject.CARD, Period.DAY, 1),),
    )
    return dataclasses.replace(spec, **changes)


def open_stock(spec: StockSpec | None = None, *, seed: int = 7, **kwargs: Any) -> Engine:
    """An engine over a fresh memory store with ``spec`` (default: :func:`stock`) created."""
    spec = spec or stock()
    engine = Engine(MemoryStore(), seed=seed, **kwargs)
    engine.create_stock(spec, f"create-{spec.stock_id}", spec.window.start_s)
    return engine


def claim_request(index: int | str, stock_id: str = "friday", **fields: Any) -> ClaimRequest:
    """Claim ``index``: customer ``u<index>`` with card ``card-<index>`` unless overridden."""
    values: dict[str, Any] = {"customer_id": f"u{index}", "card": f"card-{index}"}
    values.update(fields)
    return ClaimRequest(f"claim-{index}", stock_id, **values)


def order(
    request_id: str, coupon_id: str, customer_id: str, *amounts_fen: int
) -> RedemptionRequest:
    """An order of lines ``l0, l1, …`` with the given amounts."""
    lines = tuple(OrderLine(f"l{i}", amount) for i, amount in enumerate(amounts_fen))
    return RedemptionRequest(request_id, coupon_id, customer_id, lines)
