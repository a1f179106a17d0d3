"""A stock's rules compiled for the hot path: the claim window, eligibility and limit keys.

:class:`StockRules` is derived once from a :class:`~engine.stock.StockSpec` and then only read,
so every store and every thread may share it.
"""

from __future__ import annotations

from engine.calendar import LocalCalendar, LocalDay
from engine.requests import ClaimRequest
from engine.stock import Kind, Period, StockSpec, Subject
from engine.values import RandomAmount

_SUBJECT_FIELD = {
    Subject.CUSTOMER: "customer_id",
    Subject.DEVICE: "device_id",
    Subject.PHONE: "phone",
    Subject.CARD: "card",
}
_PERIOD_FIELD = {
    Period.DAY: LocalDay._fields.index("day_key"),
    Period.WEEK: LocalDay._fields.index("week_key"),
    Period.MONTH: LocalDay._fields.index("month_key"),
    Period.CAMPAIGN: LocalDay._fields.index("campaign_key"),
}

LimitKey = tuple[str, int, str, int]  # (stock id, limit index, subject value, period key)


class StockRules:
    """Read-only, precomputed form of a stock's definition."""

    __slots__ = (
        "calendar",
        "daily_budget_fen",
        "daily_quota",
        "fixed_end_s",
        "is_random",
        "limit_counts",
        "limit_sources",
        "min_value_fen",
        "open_to_all",
        "person_limit_index",
        "person_limited",
        "quota",
        "spec",
        "stock_id",
        "tracks_days",
        "validity_days",
        "validity_shift",
        "value_fen",
        "weekly",
        "window_end_s",
        "window_start_s",
    )

    def __init__(self, spec: StockSpec) -> None:
        self.spec = spec
        self.stock_id = spec.stock_id
        self.calendar = LocalCalendar(spec.timezone)
        self.is_random = spec.kind is Kind.RANDOM
        self.value_fen = spec.max_coupon_fen
        self.min_value_fen = (
            spec.value.min_draw_fen if isinstance(spec.value, RandomAmount) else self.value_fen
        )
        self.weekly: dict[int, tuple[tuple[int, int], ...]] = {}
        for slot in spec.window.weekly:
            span = (slot.start_minute * 60, slot.end_minute * 60)
            self.weekly[slot.weekday] = (*self.weekly.get(slot.weekday, ()), span)
        self.limit_counts = tuple(limit.count for limit in spec.limits)
        # Plain copies of what the hot path reads on every claim (no dataclass hops).
        self.quota = spec.quota
        self.daily_quota = spec.daily_quota
        self.daily_budget_fen = spec.daily_budget_fen
        self.tracks_days = spec.daily_quota is not None or spec.daily_budget_fen is not None
        self.window_start_s = spec.window.start_s
        self.window_end_s = spec.window.end_s
        self.open_to_all = spec.eligibility.open_to_all
        self.fixed_end_s = spec.validity.fixed_end_s
        days = spec.validity.days_after_claim
        self.validity_days = 0 if days is None else days
        # A memo of validity_shift_s for the latest local day seen (refresh_validity_shift), so
        # the hot path adds a number; one immutable tuple, replaced whole (threads share it).
        self.validity_shift: tuple[LocalDay | None, float | None] = (None, None)
        # (limit index, request field index or -1 for the person, LocalDay field of the period)
        self.limit_sources = tuple(
            (index, _subject_source(limit.subject), _PERIOD_FIELD[limit.period])
            for index, limit in enumerate(spec.limits)
        )
        # The one place that says whether a limit counts natural persons (then every store
        # keeps each claim's person, so reconciliation can recount those limits): the index
        # of the first person limit among the limits (one per period at most; the claim's
        # person is the same for all of them), -1 when there is none.
        persons = [index for index, field, _ in self.limit_sources if field < 0]
        self.person_limit_index = persons[0] if persons else -1
        self.person_limited = bool(persons)

    def is_open(self, now_s: float, day: LocalDay) -> bool:
        """Whether claims are open at ``now_s`` (absolute window, then weekly slots)."""
        if not self.window_start_s <= now_s < self.window_end_s:
            return False
        if not self.weekly:
            return True
        second_of_day = self.calendar.second_of_day(now_s, day)
        return any(start <= second_of_day < end for start, end in self.weekly.get(day.weekday, ()))

    def is_eligible(self, request: ClaimRequest) -> bool:
        """Segment, whitelist and new-customers-only rules."""
        if self.open_to_all:
            return True
        eligibility = self.spec.eligibility
        if eligibility.new_customers_only and not request.is_new_customer:
            return False
        if eligibility.segments and request.segment not in eligibility.segments:
            return False
        return not eligibility.whitelist or request.customer_id in eligibility.whitelist

    def opened_s(self, now_s: float, day: LocalDay) -> float:
        """When the window slot containing ``now_s`` opened (for claim-latency risk rules)."""
        opened = self.window_start_s
        second_of_day = self.calendar.second_of_day(now_s, day)
        for start, end in self.weekly.get(day.weekday, ()):
            if start <= second_of_day < end:
                opened = max(opened, self.calendar.wall_s(day, start))
        return opened

    def limit_keys(
        self, request: ClaimRequest, person_id: str, day: LocalDay
    ) -> tuple[LimitKey, ...] | None:
        """One key per limit, or ``None`` when the request lacks a limited subject's id."""
        stock_id = self.stock_id
        keys: list[LimitKey] = []
        for index, field, period in self.limit_sources:
            subject = person_id if field < 0 else request[field]
            if not subject or subject.__class__ is not str:
                return None
            keys.append((stock_id, index, subject, day[period]))  # type: ignore[arg-type]
        return tuple(keys)

    def valid_until_s(self, claimed_s: float, day: LocalDay | None = None) -> float:
        """When a coupon claimed at ``claimed_s`` (in local ``day``) stops being valid: the fixed
        end, or the same local wall-clock time ``days_after_claim`` local days later
        (:meth:`LocalCalendar.days_later_s`). Pure: reads no memo, writes none."""
        fixed = self.fixed_end_s
        if fixed is not None:
            return fixed
        if day is None:
            day = self.calendar.day(claimed_s)
        shift = self.validity_shift_s(day)
        if shift is None:
            return self.calendar.days_later_s(claimed_s, self.validity_days)
        return claimed_s + shift

    def validity_shift_s(self, day: LocalDay) -> float | None:
        """Seconds that a coupon claimed on local ``day`` stays valid, the same for every
        instant of the day; None when the claim day or the last day has a daylight-saving
        change (then only :meth:`LocalCalendar.days_later_s` is exact). Pure."""
        return self.calendar.day_shift_s(day, self.validity_days)

    def refresh_validity_shift(self, day: LocalDay) -> tuple[LocalDay, float | None]:
        """Memoise :meth:`validity_shift_s` of ``day`` in :attr:`validity_shift` (the hot path
        reads it while the day lasts) and return the memo. An explicit cache refresh: the
        value is a pure function of the day, so no caller can tell it happened."""
        memo = self.validity_shift = (day, self.validity_shift_s(day))
        return memo


def _subject_source(subject: Subject) -> int:
    """Index of the request field holding ``subject``; -1 for the resolved natural person."""
    if subject is Subject.PERSON:
        return -1
    return ClaimRequest._fields.index(_SUBJECT_FIELD[subject])
