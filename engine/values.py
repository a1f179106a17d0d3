"""What a coupon is worth: fixed vouchers, capped percent discounts and random 立减金.

Each value kind answers three questions with pure functions:

* ``max_fen`` — the most one coupon can cost the budget (reserved at claim);
* ``expected_fen`` — the mean cost of one coupon, known before the first claim;
* ``discount_fen(eligible_fen, coupon_value_fen)`` — the discount on an order whose eligible
  amount is ``eligible_fen``; zero when the threshold (门槛) is not met.

A random draw takes a uniform number ``u`` in [0, 1) from the caller, so the engine decides how
randomness is derived (from the seed and the request id) and the draw replays exactly.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field

from engine.errors import InvalidDefinition
from engine.validate import require_int as _require_int


@dataclass(frozen=True)
class Voucher:
    """A fixed face value, optionally above a threshold: 满200减50 is ``Voucher(5000, 20000)``."""

    face_fen: int
    threshold_fen: int = 0

    def __post_init__(self) -> None:
        _require_int("value.face_fen", self.face_fen, 1)
        _require_int("value.threshold_fen", self.threshold_fen, 0)

    @property
    def max_fen(self) -> int:
        return self.face_fen

    @property
    def expected_fen(self) -> float:
        return float(self.face_fen)

    def discount_fen(self, eligible_fen: int, coupon_value_fen: int) -> int:
        if eligible_fen <= 0 or eligible_fen < self.threshold_fen:
            return 0
        return min(coupon_value_fen, eligible_fen)


@dataclass(frozen=True)
class Discount:
    """Percent off the eligible amount, capped: 8折 capped at 30 yuan is ``Discount(20, 3000)``.

    The discount is rounded down to the fen, in the bank's favour.
    """

    percent_off: int
    cap_fen: int
    threshold_fen: int = 0

    def __post_init__(self) -> None:
        percent = self.percent_off
        if not isinstance(percent, int) or isinstance(percent, bool) or not 0 < percent <= 100:
            raise InvalidDefinition("value.percent_off", self.percent_off, "an integer in 1..100")
        _require_int("value.cap_fen", self.cap_fen, 1)
        _require_int("value.threshold_fen", self.threshold_fen, 0)

    @property
    def max_fen(self) -> int:
        return self.cap_fen

    @property
    def expected_fen(self) -> float:
        return float(self.cap_fen)

    def discount_fen(self, eligible_fen: int, coupon_value_fen: int) -> int:
        if eligible_fen <= 0 or eligible_fen < self.threshold_fen:
            return 0
        return min(coupon_value_fen, eligible_fen * self.percent_off // 100)


@dataclass(frozen=True)
class Tier:
    """One prize of a random stock: ``amount_fen`` drawn with relative ``weight``."""

    amount_fen: int
    weight: float

    def __post_init__(self) -> None:
        _require_int("value.tiers.amount_fen", self.amount_fen, 1)
        weight = self.weight
        if (
            not isinstance(weight, int | float)
            or isinstance(weight, bool)
            or not math.isfinite(weight)
            or not weight > 0
        ):
            raise InvalidDefinition("value.tiers.weight", weight, "a positive finite number")


@dataclass(frozen=True)
class RandomAmount:
    """立减金 drawn at claim: either weighted ``tiers`` or a ``min_fen``/``max_fen``/``mean_fen``.

    With min/max/mean the amount is an exponential truncated to [min, max], rounded half up to the
    fen, mirrored when the mean lies above the midpoint (uniform at the midpoint): skewed like real
    lucky draws, where most draws sit near the mean and a few reach the top prize. Its rate is
    solved so that the mean of what is actually drawn — the *rounded* amount, not the continuous
    exponential — is ``mean_fen`` (to ~1e-9 fen): on a narrow range the rounding moves the mean by
    a good part of a fen (1–10 fen with a mean of 2 would draw 1.96 otherwise).
    ``expected_fen`` is the exact mean of that discrete distribution.
    """

    tiers: tuple[Tier, ...] = ()
    min_fen: int = 0
    max_fen_declared: int = 0
    mean_fen: int = 0
    threshold_fen: int = 0
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _rate: float = field(init=False, repr=False, compare=False)
    _mirrored: bool = field(init=False, repr=False, compare=False)  # measured down from max
    _mean: float = field(init=False, repr=False, compare=False)  # of the amounts drawn

    def __post_init__(self) -> None:
        _require_int("value.threshold_fen", self.threshold_fen, 0)
        if not isinstance(self.tiers, tuple) or not all(isinstance(t, Tier) for t in self.tiers):
            raise InvalidDefinition(
                "value.tiers", self.tiers, "a tuple of Tier(amount_fen, weight)"
            )
        if self.tiers and (self.min_fen or self.max_fen_declared or self.mean_fen):
            raise InvalidDefinition(
                "value.tiers", self.tiers, "either tiers or min_fen/max_fen/mean_fen, not both"
            )
        if self.tiers:
            cumulative = tuple(itertools.accumulate(t.weight for t in self.tiers))
            object.__setattr__(self, "_cumulative", cumulative)
            object.__setattr__(self, "_rate", 0.0)
            object.__setattr__(self, "_mirrored", False)
            mean = sum(t.amount_fen * t.weight for t in self.tiers) / cumulative[-1]
            object.__setattr__(self, "_mean", mean)
            return
        self._check_range()
        width = self.max_fen_declared - self.min_fen
        offset = self.mean_fen - self.min_fen
        # The exponential is measured from the bound nearer the mean (from max when mirrored).
        mirrored = offset > width / 2
        object.__setattr__(self, "_cumulative", ())
        object.__setattr__(self, "_mirrored", mirrored)
        rate = _solve_rate(width, width - offset if mirrored else offset)
        object.__setattr__(self, "_rate", rate)
        drawn = rounded_mean(rate, width)
        object.__setattr__(
            self, "_mean", self.max_fen_declared - drawn if mirrored else self.min_fen + drawn
        )

    def _check_range(self) -> None:
        """``1 <= min_fen <= mean_fen <= max_fen``, all integers."""
        _require_int("value.min_fen", self.min_fen, 1)
        _require_int("value.max_fen", self.max_fen_declared, self.min_fen)
        mean = self.mean_fen
        if (
            not isinstance(mean, int)
            or isinstance(mean, bool)
            or not self.min_fen <= mean <= self.max_fen_declared
        ):
            raise InvalidDefinition(
                "value.mean_fen",
                mean,
                f"an integer between min_fen {self.min_fen} and max_fen"
                f" {self.max_fen_declared} (or give tiers)",
            )

    @property
    def max_fen(self) -> int:
        if self.tiers:
            return max(t.amount_fen for t in self.tiers)
        return self.max_fen_declared

    @property
    def min_draw_fen(self) -> int:
        if self.tiers:
            return min(t.amount_fen for t in self.tiers)
        return self.min_fen

    @property
    def expected_fen(self) -> float:
        """The exact mean of :meth:`draw_fen` over a uniform ``u`` (before any budget cut)."""
        return self._mean

    def draw_fen(self, u: float) -> int:
        """The amount for uniform ``u`` in [0, 1): inverse-CDF sampling, so it replays exactly."""
        if self.tiers:
            index = bisect.bisect_right(self._cumulative, u * self._cumulative[-1])
            return self.tiers[min(index, len(self.tiers) - 1)].amount_fen
        width = self.max_fen_declared - self.min_fen
        rate = self._rate
        x = u * width if rate == 0.0 else -math.log1p(-u * -math.expm1(-rate * width)) / rate
        x = min(max(x, 0.0), float(width))
        offset = int(x + 0.5)
        if self._mirrored:
            return self.max_fen_declared - offset
        return self.min_fen + offset

    def discount_fen(self, eligible_fen: int, coupon_value_fen: int) -> int:
        if eligible_fen <= 0 or eligible_fen < self.threshold_fen:
            return 0
        return min(coupon_value_fen, eligible_fen)


def rounded_mean(rate: float, width: int) -> float:
    """Mean of ``round_half_up(X)`` for ``X`` exponential with ``rate``, truncated to
    ``[0, width]``: what :meth:`RandomAmount.draw_fen` draws, measured from its bound.

    Closed form of ``sum(P(X >= j - 1/2) for j in 1..width)`` (a geometric series). Rate 0 is
    the uniform, whose rounded mean is exactly ``width / 2`` (the two end fen have half-width bins).
    """
    if width == 0:
        return 0.0
    if rate * width < 1e-12:
        return width / 2
    scale = -math.expm1(-rate * width)  # P(X <= width) of the untruncated exponential
    tail = math.exp(-rate * width) if rate * width < 700 else 0.0
    series = math.exp(-rate / 2) * scale / -math.expm1(-rate)
    return (series - width * tail) / scale


def _solve_rate(width: int, mean_offset: float) -> float:
    """Rate whose :func:`rounded_mean` over ``[0, width]`` is ``mean_offset`` (bisection; the
    rounded mean falls from ``width / 2`` at rate 0 towards 0 as the rate grows)."""
    if width == 0 or mean_offset >= width / 2:
        return 0.0
    if mean_offset <= 0:
        return 1e6
    low, high = 0.0, 1.0
    while rounded_mean(high, width) > mean_offset:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if rounded_mean(middle, width) > mean_offset:
            low = middle
        else:
            high = middle
        if high - low <= 1e-15 * high:
            break
    return (low + high) / 2


CouponValue = Voucher | Discount | RandomAmount
