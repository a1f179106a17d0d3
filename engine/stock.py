"""The definition of a stock (批次): everything that controls who may claim what, when.

:class:`StockSpec` is an immutable value validated on construction: a bad definition raises
:class:`~engine.errors.InvalidDefinition` naming the field, the value and the rule it breaks, so no
store ever holds a stock that cannot be honoured.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum

from engine.calendar import zone
from engine.errors import InvalidDefinition
from engine.validate import parse_enum as _enum
from engine.validate import require_int as _require_int
from engine.values import CouponValue, Discount, RandomAmount, Voucher

MAX_VALIDITY_DAYS = 90  # WeChat Pay: a stock's validity is at most 90 days
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class Kind(StrEnum):
    VOUCHER = "voucher"
    DISCOUNT = "discount"
    RANDOM = "random"


class Funding(StrEnum):
    PREPAID = "prepaid"  # 预充值: the budget is a funded balance
    POSTPAID = "postpaid"  # 免充值: settled after redemption


class RefundPolicy(StrEnum):
    FORFEIT = "forfeit"  # a refund forfeits the discount; the use still counts
    RETURN_IF_VALID = "return_if_valid"  # a full refund returns a still-valid coupon


class Subject(StrEnum):
    CUSTOMER = "customer"
    PERSON = "person"  # natural person (自然人): resolved by the identity graph
    DEVICE = "device"
    PHONE = "phone"
    CARD = "card"


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    CAMPAIGN = "campaign"


class ReviewPolicy(StrEnum):
    """What a risk decision of ``review`` means for this stock."""

    REJECT = "reject"
    PASS_AND_FLAG = "pass_and_flag"
    CHALLENGE = "challenge"  # a share of legitimate customers pass a challenge (captcha, SMS)


def require_id(field_name: str, value: object) -> None:
    """Ids are 1–64 characters of letters, digits, ``_``, ``.`` and ``-``."""
    if not isinstance(value, str) or not _ID_PATTERN.match(value):
        raise InvalidDefinition(field_name, value, "1-64 characters of [A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Limit:
    """At most ``count`` claims per ``subject`` per ``period``: 单卡单日限1次 is
    ``Limit(Subject.CARD, Period.DAY, 1)``."""

    subject: Subject
    period: Period
    count: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "subject", _enum(Subject, "limits.subject", self.subject))
        object.__setattr__(self, "period", _enum(Period, "limits.period", self.period))
        _require_int("limits.count", self.count, 1)


@dataclass(frozen=True)
class WeeklySlot:
    """A recurring local-time slot: Friday 10:00–22:00 is ``WeeklySlot(4, 600, 1320)``."""

    weekday: int  # 0 = Monday … 6 = Sunday
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not _is_int(self.weekday) or not 0 <= self.weekday <= 6:
            raise InvalidDefinition("window.weekly.weekday", self.weekday, "0 (Monday) .. 6")
        for name in ("start_minute", "end_minute"):
            value = getattr(self, name)
            if not _is_int(value) or not 0 <= value <= 1440:
                raise InvalidDefinition(f"window.weekly.{name}", value, "minutes in 0..1440")
        if self.end_minute <= self.start_minute:
            raise InvalidDefinition(
                "window.weekly.end_minute",
                self.end_minute,
                f"after start_minute {self.start_minute}",
            )


@dataclass(frozen=True)
class ClaimWindow:
    """Claims are open in ``[start_s, end_s)`` and, if ``weekly`` is given, only inside a slot."""

    start_s: float
    end_s: float
    weekly: tuple[WeeklySlot, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start_s", "end_s"):
            value = getattr(self, name)
            if not _is_finite(value):
                raise InvalidDefinition(f"window.{name}", value, "seconds since the epoch")
        if self.end_s <= self.start_s:
            raise InvalidDefinition("window.end_s", self.end_s, f"after start_s {self.start_s}")
        if not isinstance(self.weekly, tuple):
            raise InvalidDefinition("window.weekly", self.weekly, "a tuple of WeeklySlot")
        for slot in self.weekly:
            if not isinstance(slot, WeeklySlot):
                raise InvalidDefinition("window.weekly", slot, "WeeklySlot(weekday, start, end)")


@dataclass(frozen=True)
class Validity:
    """A coupon is valid until ``fixed_end_s``, or for ``days_after_claim`` local days: until
    the same local wall-clock time that many calendar days after the claim, in the stock's
    timezone (across a daylight-saving change that is 23 or 25 hours more or less than
    ``N × 86,400`` s; see :meth:`engine.calendar.LocalCalendar.days_later_s`). Exactly one."""

    fixed_end_s: float | None = None
    days_after_claim: int | None = None

    def __post_init__(self) -> None:
        if (self.fixed_end_s is None) == (self.days_after_claim is None):
            given = {"fixed_end_s": self.fixed_end_s, "days_after_claim": self.days_after_claim}
            raise InvalidDefinition(
                "validity", given, "exactly one of fixed_end_s and days_after_claim"
            )
        if self.fixed_end_s is not None and not _is_finite(self.fixed_end_s):
            raise InvalidDefinition("validity.fixed_end_s", self.fixed_end_s, "epoch seconds")
        if self.days_after_claim is not None:
            _require_int("validity.days_after_claim", self.days_after_claim, 1)
            if self.days_after_claim > MAX_VALIDITY_DAYS:
                raise InvalidDefinition(
                    "validity.days_after_claim",
                    self.days_after_claim,
                    f"at most {MAX_VALIDITY_DAYS} days (WeChat Pay's limit)",
                )


@dataclass(frozen=True)
class Scope:
    """Order-wide (全场) when both sets are empty; otherwise only listed items or categories."""

    items: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _require_strings("scope.items", self.items)
        _require_strings("scope.categories", self.categories)

    @property
    def order_wide(self) -> bool:
        return not self.items and not self.categories

    def covers(self, item_id: str, category: str) -> bool:
        return self.order_wide or item_id in self.items or category in self.categories


@dataclass(frozen=True)
class Eligibility:
    """Who may claim: target ``segments`` (empty: all), a ``whitelist`` of customer ids (empty:
    all), and whether only new customers may."""

    segments: frozenset[str] = frozenset()
    whitelist: frozenset[str] = frozenset()
    new_customers_only: bool = False

    def __post_init__(self) -> None:
        _require_strings("eligibility.segments", self.segments)
        _require_strings("eligibility.whitelist", self.whitelist)
        if not isinstance(self.new_customers_only, bool):
            raise InvalidDefinition(
                "eligibility.new_customers_only", self.new_customers_only, "true or false"
            )

    @property
    def open_to_all(self) -> bool:
        return not self.segments and not self.whitelist and not self.new_customers_only


@dataclass(frozen=True)
class StockSpec:
    """One stock (批次). Construct it; it validates itself and raises on the first bad field."""

    stock_id: str
    value: CouponValue
    quota: int
    budget_fen: int
    window: ClaimWindow
    validity: Validity
    name: str = ""
    daily_quota: int | None = None
    daily_budget_fen: int | None = None
    funding: Funding = Funding.PREPAID
    limits: tuple[Limit, ...] = ()
    scope: Scope = field(default_factory=Scope)
    eligibility: Eligibility = field(default_factory=Eligibility)
    refund_policy: RefundPolicy = RefundPolicy.FORFEIT
    review_policy: ReviewPolicy = ReviewPolicy.REJECT
    challenge_pass_share: float = 0.9
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        require_id("stock_id", self.stock_id)
        if not isinstance(self.name, str):
            raise InvalidDefinition("name", self.name, "a string")
        if not isinstance(self.value, Voucher | Discount | RandomAmount):
            raise InvalidDefinition("value", self.value, "a Voucher, Discount or RandomAmount")
        _require_int("quota", self.quota, 1)
        _require_int("budget_fen", self.budget_fen, 1)
        if self.budget_fen < self.value.max_fen:
            raise InvalidDefinition(
                "budget_fen",
                self.budget_fen,
                f"at least one coupon's value, {self.value.max_fen} fen",
            )
        self._validate_daily()
        for name, enum in (
            ("funding", Funding),
            ("refund_policy", RefundPolicy),
            ("review_policy", ReviewPolicy),
        ):
            object.__setattr__(self, name, _enum(enum, name, getattr(self, name)))
        if not _is_finite(self.challenge_pass_share) or not 0 <= self.challenge_pass_share <= 1:
            raise InvalidDefinition("challenge_pass_share", self.challenge_pass_share, "0..1")
        zone(self.timezone)
        self._validate_limits()
        fixed_end_s = self.validity.fixed_end_s
        if fixed_end_s is not None and fixed_end_s <= self.window.start_s:
            raise InvalidDefinition(
                "validity.fixed_end_s",
                fixed_end_s,
                f"after the window's start_s {self.window.start_s} (else no coupon is ever valid)",
            )

    def _validate_daily(self) -> None:
        if self.daily_quota is not None:
            _require_int("daily_quota", self.daily_quota, 1)
            if self.daily_quota > self.quota:  # it could never be reached: a typo, surely
                raise InvalidDefinition(
                    "daily_quota", self.daily_quota, f"at most quota ({self.quota})"
                )
        if self.daily_budget_fen is not None:
            _require_int("daily_budget_fen", self.daily_budget_fen, 1)
            if self.daily_budget_fen < self.value.max_fen:
                raise InvalidDefinition(
                    "daily_budget_fen",
                    self.daily_budget_fen,
                    f"at least one coupon's value, {self.value.max_fen} fen",
                )

    def _validate_limits(self) -> None:
        seen = set()
        for limit in self.limits:
            if not isinstance(limit, Limit):
                raise InvalidDefinition("limits", limit, "Limit(subject, period, count) values")
            key = (limit.subject, limit.period)
            if key in seen:
                raise InvalidDefinition("limits", limit, "one limit per subject and period")
            seen.add(key)

    @property
    def kind(self) -> Kind:
        if isinstance(self.value, Voucher):
            return Kind.VOUCHER
        return Kind.DISCOUNT if isinstance(self.value, Discount) else Kind.RANDOM

    @property
    def max_coupon_fen(self) -> int:
        """The most one coupon can reserve from the budget."""
        return self.value.max_fen


def _is_int(value: object) -> bool:
    """An ``int`` that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _require_strings(field_name: str, value: object) -> None:
    """A frozenset of strings (a set would make the stock unhashable and mutable)."""
    if not isinstance(value, frozenset) or not all(isinstance(v, str) for v in value):
        raise InvalidDefinition(field_name, value, "a frozenset of strings")


def _is_finite(value: object) -> bool:
    """A real number (not a bool), neither NaN nor infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
