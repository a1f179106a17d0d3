"""An independent model of a stock's claim rules, for the state machine's oracle.

It is written from docs/engine.md, not from the engine's code: it recomputes what a claim's
outcome must be from the stock definition and the claims acknowledged so far, with the calendar
read through ``datetime`` rather than the engine's cached local days.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from engine import (
    ClaimRequest,
    Coupon,
    Discount,
    Limit,
    Outcome,
    Period,
    RandomAmount,
    StockSpec,
    Subject,
)


def person_of(request: ClaimRequest) -> str:
    """The state machine's natural person: everyone behind one phone is one person."""
    return f"person-{request.phone}"


class PhoneIsPerson:
    """An identity resolver implementing :func:`person_of`."""

    def person_of(self, request: ClaimRequest) -> str:
        return person_of(request)


@dataclass
class StockModel:
    """What a stock's claims must do, given the claims acknowledged so far."""

    spec: StockSpec
    claims: list[tuple[ClaimRequest, Coupon]] = field(default_factory=list)

    def local(self, at_s: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(at_s, dt.UTC).astimezone(ZoneInfo(self.spec.timezone))

    def period_key(self, period: Period, at_s: float) -> object:
        date = self.local(at_s).date()
        if period is Period.DAY:
            return date
        if period is Period.WEEK:
            return date - dt.timedelta(days=date.weekday())
        if period is Period.MONTH:
            return (date.year, date.month)
        return "campaign"

    def limit_key(self, limit: Limit, request: ClaimRequest, at_s: float) -> tuple[object, ...]:
        subject = _subject(limit.subject, request)
        return (subject, self.period_key(limit.period, at_s))

    def is_open(self, now_s: float) -> bool:
        window = self.spec.window
        if not window.start_s <= now_s < window.end_s:
            return False
        if not window.weekly:
            return True
        local = self.local(now_s)
        minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 6e7
        return any(
            slot.weekday == local.weekday() and slot.start_minute <= minute < slot.end_minute
            for slot in window.weekly
        )

    def expected_claim(self, request: ClaimRequest, now_s: float, available_fen: int) -> Outcome:
        """The outcome of ``request`` at ``now_s``, checks in the documented order (no risk)."""
        spec = self.spec
        fixed_end_s = spec.validity.fixed_end_s
        if not self.is_open(now_s) or (fixed_end_s is not None and now_s >= fixed_end_s):
            return Outcome.NOT_OPEN
        eligibility = spec.eligibility
        if (
            (eligibility.segments and request.segment not in eligibility.segments)
            or (eligibility.whitelist and request.customer_id not in eligibility.whitelist)
            or (eligibility.new_customers_only and not request.is_new_customer)
        ):
            return Outcome.NOT_ELIGIBLE
        if any(not _subject(limit.subject, request) for limit in spec.limits):
            return Outcome.NOT_ELIGIBLE
        if len(self.claims) >= spec.quota:
            return Outcome.SOLD_OUT
        today = [c for _, c in self.claims if self._same_day(c.claimed_s, now_s)]
        if spec.daily_quota is not None and len(today) >= spec.daily_quota:
            return Outcome.DAILY_SOLD_OUT
        for limit in spec.limits:
            key = self.limit_key(limit, request, now_s)
            if self.limit_counts(limit)[key] >= limit.count:
                return Outcome.LIMIT_REACHED
        room = available_fen
        if spec.daily_budget_fen is not None:
            room = min(room, spec.daily_budget_fen - sum(c.value_fen for c in today))
        value = spec.value
        smallest = value.min_draw_fen if isinstance(value, RandomAmount) else value.max_fen
        return Outcome.OK if room >= smallest else Outcome.BUDGET_EXHAUSTED

    def limit_counts(self, limit: Limit) -> Counter[tuple[object, ...]]:
        """Claims acknowledged per (subject, period) of ``limit``."""
        return Counter(self.limit_key(limit, r, c.claimed_s) for r, c in self.claims)

    def _same_day(self, a_s: float, b_s: float) -> bool:
        return self.local(a_s).date() == self.local(b_s).date()


def _subject(subject: Subject, request: ClaimRequest) -> str:
    if subject is Subject.PERSON:
        return person_of(request)
    return {
        Subject.CUSTOMER: request.customer_id,
        Subject.DEVICE: request.device_id,
        Subject.PHONE: request.phone,
        Subject.CARD: request.card,
    }[subject]


def expected_discount(spec: StockSpec, coupon_value_fen: int, eligible_fen: int) -> int:
    """The discount a coupon worth ``coupon_value_fen`` gives on ``eligible_fen`` (0: below the
    threshold)."""
    value = spec.value
    if eligible_fen < value.threshold_fen:
        return 0
    if isinstance(value, Discount):
        return min(coupon_value_fen, eligible_fen * value.percent_off // 100)
    return min(coupon_value_fen, eligible_fen)
