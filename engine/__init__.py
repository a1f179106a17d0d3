"""Couponlab's coupon and risk engine.

The public surface: build a :class:`StockSpec`, open a store, wrap it in an :class:`Engine`, and
call ``claim``/``redeem``/``refund``/``expire``/``adjust_budget`` with an explicit ``now_s``.
"""

from engine.coupon import Coupon, CouponState
from engine.engine import Engine
from engine.errors import (
    CouponlabError,
    DuplicateStock,
    InvalidDefinition,
    InvariantBroken,
    RequestConflict,
    UnknownCoupon,
    UnknownRedemption,
    UnknownStock,
)
from engine.ledger import LedgerEntry, Movement, Reconciliation, StockStatus
from engine.outcomes import (
    BudgetResult,
    ClaimResult,
    ExpiryResult,
    Outcome,
    Redemption,
    RedemptionResult,
    RefundResult,
)
from engine.requests import (
    BudgetAdjustment,
    ClaimRequest,
    ExpiryRequest,
    OrderLine,
    RedemptionRequest,
    RefundRequest,
    StockCreation,
)
from engine.stock import (
    ClaimWindow,
    Eligibility,
    Funding,
    Kind,
    Limit,
    Period,
    RefundPolicy,
    ReviewPolicy,
    Scope,
    StockSpec,
    Subject,
    Validity,
    WeeklySlot,
)
from engine.store import MemoryStore, open_store
from engine.values import Discount, RandomAmount, Tier, Voucher

__all__ = [
    "BudgetAdjustment",
    "BudgetResult",
    "ClaimRequest",
    "ClaimResult",
    "ClaimWindow",
    "Coupon",
    "CouponState",
    "CouponlabError",
    "Discount",
    "DuplicateStock",
    "Eligibility",
    "Engine",
    "ExpiryRequest",
    "ExpiryResult",
    "Funding",
    "InvalidDefinition",
    "InvariantBroken",
    "Kind",
    "LedgerEntry",
    "Limit",
    "MemoryStore",
    "Movement",
    "OrderLine",
    "Outcome",
    "Period",
    "RandomAmount",
    "Reconciliation",
    "Redemption",
    "RedemptionRequest",
    "RedemptionResult",
    "RefundPolicy",
    "RefundRequest",
    "RefundResult",
    "RequestConflict",
    "ReviewPolicy",
    "Scope",
    "StockCreation",
    "StockSpec",
    "StockStatus",
    "Subject",
    "Tier",
    "UnknownCoupon",
    "UnknownRedemption",
    "UnknownStock",
    "Validity",
    "Voucher",
    "WeeklySlot",
    "open_store",
]
