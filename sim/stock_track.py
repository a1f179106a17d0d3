"""A stock's counters and hourly series during one replication.

The clock (:func:`sim.agents.clock`) reads a stock's levels from the engine only when a claim,
redemption or expiry has touched it; the hours in between carry the last reading, which is
what the engine would have returned then.
"""

from __future__ import annotations

from engine.stock import StockSpec


class StockTrack:
    """Per-stock counters and hourly series of one replication."""

    __slots__ = (
        "budget_exhausted_s",
        "budget_refusals",
        "category",
        "claims",
        "claims_by_hour",
        "dirty",
        "expected_fen",
        "item",
        "level",
        "quota",
        "quota_left_by_hour",
        "read_hour",
        "redemptions",
        "redemptions_by_hour",
        "reserved_by_hour",
        "sellout_s",
        "spec",
        "spent_by_hour",
        "stock_id",
        "threshold_fen",
        "value",
        "wool_claims",
        "wool_spent_fen",
    )

    def __init__(self, spec: StockSpec, hours: int) -> None:
        self.spec = spec
        self.stock_id = spec.stock_id
        self.quota = spec.quota
        self.value = spec.value
        self.threshold_fen = spec.value.threshold_fen
        self.expected_fen = round(spec.value.expected_fen)
        scope = spec.scope
        self.item = min(scope.items) if scope.items else ""
        self.category = min(scope.categories) if scope.categories and not self.item else ""
        self.claims = self.redemptions = self.wool_claims = self.wool_spent_fen = 0
        self.sellout_s: float | None = None  # the claim that issued the quota's last coupon
        self.budget_exhausted_s: float | None = None  # the first claim refused for budget
        self.budget_refusals = 0
        self.claims_by_hour = [0] * hours
        self.redemptions_by_hour = [0] * hours
        self.reserved_by_hour = [0] * hours
        self.spent_by_hour = [0] * hours
        self.quota_left_by_hour = [spec.quota] * hours
        # The last (reserved, spent, quota left) read from the engine, the hour it was
        # recorded for, and whether a claim, redemption or expiry has touched the stock since:
        # only then is it read again. The series hold it from read_hour on (see carry_to).
        self.level = (0, 0, spec.quota)
        self.read_hour = -1
        self.dirty = True

    def carry_to(self, hour: int) -> None:
        """Write the last reading into every hour after ``read_hour`` up to ``hour`` (nothing
        touched the stock in those hours, so the engine would have said the same)."""
        start = self.read_hour + 1
        if hour < start:
            return
        reserved, spent, quota_left = self.level
        span = hour + 1 - start
        self.reserved_by_hour[start : hour + 1] = [reserved] * span
        self.spent_by_hour[start : hour + 1] = [spent] * span
        self.quota_left_by_hour[start : hour + 1] = [quota_left] * span
        self.read_hour = hour

    def record(self, hour: int, reserved_fen: int, spent_fen: int, issued: int) -> None:
        """Record a reading of the engine's counters taken at the end of ``hour``."""
        self.carry_to(hour - 1)
        self.level = (reserved_fen, spent_fen, self.quota - issued)
        self.read_hour = hour - 1  # (re)write ``hour`` itself with the new reading
        self.carry_to(hour)
        self.dirty = False
