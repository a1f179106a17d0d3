"""Run a small Friday flash sale (满200减50, one per card per day) through the engine.

A thousand customers rush the stock when the window opens at 10:00 Asia/Shanghai; the demo prints
the outcomes, the budget accounts and the reconciliation. Randomised by ``--seed``.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--customers", type=int, default=1000, help="customers (default 1000)")


def run(args: argparse.Namespace) -> int:
    print(f"seed={args.seed}")
    rng = np.random.default_rng(args.seed)
    calendar = LocalCalendar("Asia/Shanghai")
    friday = calendar.at(2026, 11, 27)
    spec = StockSpec(
        "friday-demo",
        Voucher(face_fen=5000, threshold_fen=20000),
        quota=500,
        budget_fen=500 * 5000,
        window=ClaimWindow(friday, friday + 7 * 86_400, (WeeklySlot(4, 600, 1320),)),
        validity=Validity(days_after_claim=7),
        limits=(Limit(Subject.CARD, Period.DAY, 1),),
    )
    engine = Engine(MemoryStore(), seed=args.seed)
    engine.create_stock(spec, "create-demo", friday)
    outcomes: Counter[str] = Counter()
    arrivals = friday + 36_000 + np.sort(rng.exponential(30.0, args.customers))
    for index, now in enumerate(arrivals):
        card = f"card-{rng.integers(args.customers)}"  # some customers share a card
        result = engine.claim(
            ClaimRequest(f"c{index}", spec.stock_id, f"u{index}", card=card), float(now)
        )
        outcomes[result.outcome.value] += 1
        if result.coupon is not None and rng.random() < 0.3:
            order = (OrderLine("1", int(rng.integers(15_000, 40_000))),)
            redeemed = engine.redeem(
                RedemptionRequest(f"p{index}", result.coupon.coupon_id, f"u{index}", order),
                float(now) + 3600,
            )
            outcomes[f"redeem:{redeemed.outcome.value}"] += 1
    print("outcomes:", dict(sorted(outcomes.items())))
    print("status:", engine.status(spec.stock_id))
    check = engine.reconcile(spec.stock_id)
    print(f"reconciliation: {'ok' if check.ok else 'FAILED'} over {check.entries} ledger entries")
    return 0 if check.ok else 1
