"""Claims, rule by rule, with the seeds' own cases: 满200减50 one per card per day, the Friday
10:00-22:00 window in Asia/Shanghai, daily quota and budget, eligibility, random 立减金."""

from __future__ import annotations

import itertools
import math

import pytest
from engine_kit import (
    DAY_S,
    FRIDAY,
    FRIDAY_10,
    SEASON,
    SHANGHAI,
    WEEK_S,
    claim_request,
    open_stock,
    stock,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    ClaimRequest,
    ClaimWindow,
    Eligibility,
    Engine,
    Limit,
    MemoryStore,
    Outcome,
    Period,
    RandomAmount,
    Subject,
    Tier,
    Validity,
    WeeklySlot,
)
from engine.calendar import LocalCalendar
from engine.decide import admit_claim, admit_compiled, screen_claim, uniform
from engine.rules import StockRules

ids = itertools.count()


def _claim(engine: Engine, now_s: float, **fields: object) -> Outcome:
    return engine.claim(claim_request(next(ids), **fields), now_s).outcome  # type: ignore[arg-type]


# -- window ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local_time", "outcome"),
    [
        ((2026, 12, 4, 9, 59, 59), Outcome.NOT_OPEN),
        ((2026, 12, 4, 10, 0, 0), Outcome.OK),
        ((2026, 12, 4, 15, 30, 0), Outcome.OK),
        ((2026, 12, 4, 21, 59, 59), Outcome.OK),
        ((2026, 12, 4, 22, 0, 0), Outcome.NOT_OPEN),
        ((2026, 12, 3, 12, 0, 0), Outcome.NOT_OPEN),  # Thursday
        ((2026, 12, 5, 12, 0, 0), Outcome.NOT_OPEN),  # Saturday
        ((2026, 12, 11, 10, 0, 0), Outcome.OK),  # the next Friday
    ],
)
def test_friday_window_in_shanghai(
    local_time: tuple[int, int, int, int, int, int], outcome: Outcome
) -> None:
    year, month, day, hour, minute, second = local_time
    now_s = SHANGHAI.at(year, month, day, hour, minute) + second
    assert _claim(open_stock(), now_s) is outcome


def test_window_is_local_time_not_utc() -> None:
    # Friday 10:00 in Shanghai is Friday 02:00 UTC; 10:00 UTC is 18:00 local (open), and 22:00
    # UTC Thursday is Friday 06:00 local (closed).
    engine = open_stock()
    assert _claim(engine, FRIDAY_10 - 8 * 3600) is Outcome.NOT_OPEN
    assert _claim(engine, FRIDAY_10 + 8 * 3600 - 1) is Outcome.OK


BERLIN = LocalCalendar("Europe/Berlin")
SUNDAYS_10_12_BERLIN = ClaimWindow(
    BERLIN.at(2026, 3, 1), BERLIN.at(2026, 5, 1), (WeeklySlot(6, 600, 720),)
)


@pytest.mark.parametrize("day", [22, 29])  # 29 March 2026: clocks go forward, a 23-hour day
@pytest.mark.parametrize(
    ("hour", "minute", "outcome"),
    [
        (9, 59, Outcome.NOT_OPEN),
        (10, 0, Outcome.OK),
        (11, 59, Outcome.OK),
        (12, 0, Outcome.NOT_OPEN),
    ],
)
def test_weekly_window_keeps_wall_clock_time_across_daylight_saving(
    day: int, hour: int, minute: int, outcome: Outcome
) -> None:
    """A Sunday 10:00-12:00 slot opens at 10:00 on the wall clock, also on the day the clocks
    change (10:00 then is 9 hours after midnight, not 10)."""
    spec = stock(window=SUNDAYS_10_12_BERLIN, timezone="Europe/Berlin", limits=())
    assert _claim(open_stock(spec), BERLIN.at(2026, 3, day, hour, minute)) is outcome


def test_opened_s_is_the_wall_clock_slot_start_on_a_daylight_saving_day() -> None:
    spec = stock(window=SUNDAYS_10_12_BERLIN, timezone="Europe/Berlin", limits=())
    now_s = BERLIN.at(2026, 3, 29, 10, 30)
    plan = screen_claim(StockRules(spec), claim_request("a"), "ua", now_s, seed=1)
    assert not isinstance(plan, Outcome)
    assert plan.opened_s == BERLIN.at(2026, 3, 29, 10)


def test_absolute_window_bounds() -> None:
    engine = open_stock(stock(window=SEASON))
    assert _claim(engine, SEASON.start_s - 1) is Outcome.NOT_OPEN
    assert _claim(engine, SEASON.start_s) is Outcome.OK
    assert _claim(engine, SEASON.end_s - 1) is Outcome.OK
    assert _claim(engine, SEASON.end_s) is Outcome.NOT_OPEN


def test_no_claim_after_the_fixed_validity_end() -> None:
    engine = open_stock(stock(window=SEASON, validity=Validity(fixed_end_s=FRIDAY + DAY_S)))
    result = engine.claim(claim_request("a"), FRIDAY + 100)
    assert result.coupon is not None and result.coupon.valid_until_s == FRIDAY + DAY_S
    assert _claim(engine, FRIDAY + DAY_S) is Outcome.NOT_OPEN


def test_validity_days_after_claim() -> None:
    result = open_stock().claim(claim_request("a"), FRIDAY_10 + 5)
    assert result.coupon is not None
    assert result.coupon.valid_until_s == FRIDAY_10 + 5 + 7 * DAY_S


def test_valid_until_is_a_pure_calculation_and_the_memo_an_explicit_refresh() -> None:
    """``StockRules.valid_until_s`` reads and writes no memo (two answers for two days, the
    memo untouched); ``refresh_validity_shift`` is the one call that sets it: the seconds to
    add for a day, or None on a daylight-saving day (then the calendar answers each claim)."""
    rules = StockRules(stock())
    friday, saturday = rules.calendar.day(FRIDAY_10), rules.calendar.day(FRIDAY_10 + DAY_S)
    assert rules.validity_shift == (None, None)
    assert rules.valid_until_s(FRIDAY_10, friday) == FRIDAY_10 + 7 * DAY_S
    assert rules.valid_until_s(FRIDAY_10 + DAY_S) == FRIDAY_10 + 8 * DAY_S
    assert rules.validity_shift == (None, None)
    assert rules.refresh_validity_shift(saturday) == (saturday, 7 * DAY_S)
    assert rules.validity_shift == (saturday, 7 * DAY_S)
    assert not hasattr(rules, "valid_for_s")
    berlin = StockRules(stock(timezone="Europe/Berlin", validity=Validity(days_after_claim=1)))
    spring = berlin.calendar.day(BERLIN.at(2026, 3, 29, 10))
    assert berlin.refresh_validity_shift(spring) == (spring, None)
    assert berlin.valid_until_s(BERLIN.at(2026, 3, 29, 10)) == BERLIN.at(2026, 3, 30, 10)


BERLIN_SPRING = ClaimWindow(BERLIN.at(2026, 3, 1), BERLIN.at(2026, 11, 30))


@pytest.mark.parametrize(
    ("claimed", "days", "valid_until"),
    [
        # Saturday 10:00 + 2 days: Monday 10:00, 47 hours on (clocks go forward on Sunday)
        ((2026, 3, 28, 10, 0), 2, (2026, 3, 30, 10, 0)),
        # onto the 23-hour day itself, and from it
        ((2026, 3, 28, 10, 0), 1, (2026, 3, 29, 10, 0)),
        ((2026, 3, 29, 1, 30), 1, (2026, 3, 30, 1, 30)),
        ((2026, 3, 29, 10, 0), 1, (2026, 3, 30, 10, 0)),
        # 02:30 does not exist on 29 March: read with the winter offset, 03:30 summer time
        ((2026, 3, 28, 2, 30), 1, (2026, 3, 29, 3, 30)),
        # autumn: Saturday 10:00 + 1 day is Sunday 10:00, 25 hours on
        ((2026, 10, 24, 10, 0), 1, (2026, 10, 25, 10, 0)),
        ((2026, 10, 20, 9, 15), 7, (2026, 10, 27, 9, 15)),
        # no change in between: N × 24 hours
        ((2026, 3, 10, 23, 59), 3, (2026, 3, 13, 23, 59)),
    ],
)
def test_validity_days_after_claim_are_local_calendar_days_across_daylight_saving(
    claimed: tuple[int, ...], days: int, valid_until: tuple[int, ...]
) -> None:
    """``days_after_claim = N``: valid until the same local wall-clock time N local days later
    in the stock's timezone (Europe/Berlin), not N × 86,400 s; the same stock (one cached
    shift per day) gives each claim its own day's answer."""
    spec = stock(
        window=BERLIN_SPRING,
        timezone="Europe/Berlin",
        limits=(),
        validity=Validity(days_after_claim=days),
    )
    engine = open_stock(spec)
    for index, moment in enumerate([(2026, 3, 5, 12, 0), claimed, (2026, 3, 5, 12, 0), claimed]):
        result = engine.claim(claim_request(f"{claimed}-{index}"), BERLIN.at(*moment))
        assert result.coupon is not None
        assert result.coupon.valid_until_s == BERLIN.at(
            *(valid_until if moment == claimed else (2026, 3, 5 + days, 12, 0))
        )


# -- limits ---------------------------------------------------------------------------------


def test_one_per_card_per_day() -> None:
    """满200减50, 单卡单日限1次: the second claim with the same card that Friday is refused,
    another card passes, and the same card passes again next Friday."""
    engine = open_stock()
    assert _claim(engine, FRIDAY_10, card="card-x") is Outcome.OK
    assert _claim(engine, FRIDAY_10 + 3600, card="card-x") is Outcome.LIMIT_REACHED
    assert _claim(engine, FRIDAY_10 + 3600, card="card-y") is Outcome.OK
    assert _claim(engine, FRIDAY_10 + WEEK_S, card="card-x") is Outcome.OK
    assert engine.status("friday").issued == 3


def test_the_card_day_ends_at_local_midnight() -> None:
    engine = open_stock(stock(window=SEASON))
    midnight = FRIDAY + DAY_S
    assert _claim(engine, midnight - 1, card="c") is Outcome.OK
    assert _claim(engine, midnight - 0.5, card="c") is Outcome.LIMIT_REACHED
    assert _claim(engine, midnight, card="c") is Outcome.OK


@pytest.mark.parametrize(
    ("period", "later_s", "outcome"),
    [
        (Period.WEEK, 2 * DAY_S, Outcome.LIMIT_REACHED),  # Sunday: same Monday-based week
        (Period.WEEK, 3 * DAY_S, Outcome.OK),  # Monday: a new week
        (Period.MONTH, 26 * DAY_S, Outcome.LIMIT_REACHED),  # 2026-12-30
        (Period.MONTH, 28 * DAY_S, Outcome.OK),  # 2027-01-01
        (Period.CAMPAIGN, 80 * DAY_S, Outcome.LIMIT_REACHED),
    ],
)
def test_customer_limit_per_period(period: Period, later_s: float, outcome: Outcome) -> None:
    spec = stock(window=SEASON, limits=(Limit(Subject.CUSTOMER, period, 1),))
    engine = open_stock(spec)
    assert _claim(engine, FRIDAY + 3600, customer_id="u") is Outcome.OK
    assert _claim(engine, FRIDAY + 3600 + later_s, customer_id="u") is outcome


def test_limit_count_above_one() -> None:
    engine = open_stock(stock(window=SEASON, limits=(Limit(Subject.DEVICE, Period.DAY, 3),)))
    outcomes = [_claim(engine, FRIDAY + 60 + i, device_id="d1") for i in range(5)]
    assert outcomes == [Outcome.OK] * 3 + [Outcome.LIMIT_REACHED] * 2


def test_phone_limit_and_missing_subject() -> None:
    engine = open_stock(stock(window=SEASON, limits=(Limit(Subject.PHONE, Period.DAY, 1),)))
    assert _claim(engine, FRIDAY + 60, phone="138") is Outcome.OK
    assert _claim(engine, FRIDAY + 61, phone="138") is Outcome.LIMIT_REACHED
    # A phone-limited stock cannot be claimed without a phone.
    assert _claim(engine, FRIDAY + 62) is Outcome.NOT_ELIGIBLE


class _SharedPerson:
    """An identity resolver that maps every customer of a phone to one natural person."""

    def person_of(self, request: ClaimRequest) -> str:
        return f"person-{request.phone}"


def test_natural_person_limit_uses_the_resolver() -> None:
    spec = stock(window=SEASON, limits=(Limit(Subject.PERSON, Period.CAMPAIGN, 1),))
    engine = open_stock(spec, identity=_SharedPerson())
    assert _claim(engine, FRIDAY + 60, customer_id="a", phone="1") is Outcome.OK
    assert _claim(engine, FRIDAY + 61, customer_id="b", phone="1") is Outcome.LIMIT_REACHED
    assert _claim(engine, FRIDAY + 62, customer_id="c", phone="2") is Outcome.OK


# -- quota and budget -----------------------------------------------------------------------


def test_total_quota() -> None:
    engine = open_stock(stock(quota=3, budget_fen=10**7))
    outcomes = [_claim(engine, FRIDAY_10 + i) for i in range(5)]
    assert outcomes == [Outcome.OK] * 3 + [Outcome.SOLD_OUT] * 2


def test_daily_quota_resets_each_local_day() -> None:
    engine = open_stock(stock(window=SEASON, daily_quota=2))
    day1 = [_claim(engine, FRIDAY + 60 + i) for i in range(3)]
    day2 = [_claim(engine, FRIDAY + DAY_S + 60 + i) for i in range(3)]
    assert day1 == day2 == [Outcome.OK, Outcome.OK, Outcome.DAILY_SOLD_OUT]


def test_budget_exhausted_before_quota() -> None:
    engine = open_stock(stock(quota=10, budget_fen=12_000))  # two 50-yuan coupons and change
    outcomes = [_claim(engine, FRIDAY_10 + i) for i in range(3)]
    assert outcomes == [Outcome.OK, Outcome.OK, Outcome.BUDGET_EXHAUSTED]
    assert engine.status("friday").available_fen == 2_000


def test_daily_budget() -> None:
    engine = open_stock(stock(window=SEASON, daily_budget_fen=10_000))
    day1 = [_claim(engine, FRIDAY + 60 + i) for i in range(3)]
    assert day1 == [Outcome.OK, Outcome.OK, Outcome.BUDGET_EXHAUSTED]
    assert _claim(engine, FRIDAY + DAY_S + 60) is Outcome.OK


# -- eligibility ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eligibility", "fields", "outcome"),
    [
        (Eligibility(segments=frozenset({"new"})), {"segment": "new"}, Outcome.OK),
        (Eligibility(segments=frozenset({"new"})), {"segment": "dormant"}, Outcome.NOT_ELIGIBLE),
        (Eligibility(whitelist=frozenset({"u-vip"})), {"customer_id": "u-vip"}, Outcome.OK),
        (Eligibility(whitelist=frozenset({"u-vip"})), {"customer_id": "u-2"}, Outcome.NOT_ELIGIBLE),
        (Eligibility(new_customers_only=True), {"is_new_customer": True}, Outcome.OK),
        (Eligibility(new_customers_only=True), {"is_new_customer": False}, Outcome.NOT_ELIGIBLE),
    ],
)
def test_eligibility(eligibility: Eligibility, fields: dict[str, object], outcome: Outcome) -> None:
    assert _claim(open_stock(stock(eligibility=eligibility)), FRIDAY_10, **fields) is outcome


# -- random 立减金 ---------------------------------------------------------------------------

LUCKY = RandomAmount(min_fen=188, max_fen_declared=18_800, mean_fen=388)
TIERS = RandomAmount(tiers=(Tier(188, 900), Tier(888, 99), Tier(18_800, 1)))


@pytest.mark.parametrize("value", [LUCKY, TIERS])
def test_random_draw_replays_from_the_seed(value: RandomAmount) -> None:
    def draws(seed: int) -> list[int]:
        engine = open_stock(stock(value=value, limits=(), budget_fen=10**9), seed=seed)
        results = [engine.claim(claim_request(i), FRIDAY_10) for i in range(200)]
        return [r.coupon.value_fen for r in results if r.coupon is not None]

    first = draws(11)
    assert first == draws(11)
    assert first != draws(12)
    assert all(value.min_draw_fen <= v <= value.max_fen for v in first)


def test_random_mean_is_near_the_declared_mean() -> None:
    values = [LUCKY.draw_fen(uniform(3, "lucky", f"r{i}")) for i in range(20_000)]
    assert abs(sum(values) / len(values) - 388) < 388 * 0.05
    assert min(values) >= 188 and max(values) <= 18_800


@pytest.mark.parametrize(
    ("min_fen", "max_fen", "mean_fen"),
    [
        (188, 18_800, 388),  # the WeCom draw: most near the mean, a few top prizes
        (100, 5_000, 4_000),  # mean above the midpoint: mirrored, most near the top
        (100, 200, 150),  # mean at the midpoint: uniform
        (100, 200, 100),  # mean at the minimum: every draw is the minimum
        (100, 200, 200),  # mean at the maximum: every draw is the maximum
        (500, 500, 500),  # a fixed amount
    ],
)
def test_min_max_mean_draws_have_the_declared_mean(
    min_fen: int, max_fen: int, mean_fen: int
) -> None:
    value = RandomAmount(min_fen=min_fen, max_fen_declared=max_fen, mean_fen=mean_fen)
    draws = [value.draw_fen(uniform(3, "lucky", f"r{i}")) for i in range(20_000)]
    assert min(draws) >= min_fen and max(draws) <= max_fen
    assert value.expected_fen == pytest.approx(mean_fen, abs=1e-6)
    assert abs(sum(draws) / len(draws) - mean_fen) <= max(1.0, mean_fen * 0.03)


@pytest.mark.parametrize(
    ("min_fen", "max_fen", "mean_fen"),
    [
        (1, 10, 2),  # narrow: rounding the continuous draw alone would give a mean of 1.96
        (1, 10, 8),  # narrow and mirrored
        (1, 4, 2),
        (188, 18_800, 388),
        (100, 5_000, 4_000),
    ],
)
def test_min_max_mean_draws_pass_a_z_test_on_the_declared_mean(
    min_fen: int, max_fen: int, mean_fen: int
) -> None:
    """The mean of what is drawn is the declared mean: a z-test over 100,000 draws (fixed seed)
    and ``expected_fen``, the exact mean of the discrete distribution, equal to it."""
    value = RandomAmount(min_fen=min_fen, max_fen_declared=max_fen, mean_fen=mean_fen)
    assert value.expected_fen == pytest.approx(mean_fen, abs=1e-6)
    n = 100_000
    draws = [value.draw_fen(uniform(11, "z-test", f"r{i}")) for i in range(n)]
    mean = sum(draws) / n
    variance = sum((d - mean) ** 2 for d in draws) / (n - 1)
    z = (mean - mean_fen) / math.sqrt(variance / n)
    assert abs(z) < 4, (mean, z)


def test_random_draw_is_capped_by_the_remaining_budget() -> None:
    """A draw never exceeds what the budget still has; below the smallest prize it is refused."""
    spec = stock(value=TIERS, limits=(), budget_fen=18_800 + 500)
    engine = open_stock(spec, seed=5)
    values = []
    for i in range(400):
        result = engine.claim(claim_request(i), FRIDAY_10)
        if result.outcome is not Outcome.OK:
            assert result.outcome is Outcome.BUDGET_EXHAUSTED
            break
        assert result.coupon is not None
        values.append(result.coupon.value_fen)
    status = engine.status("friday")
    assert sum(values) == status.reserved_fen <= spec.budget_fen
    assert status.available_fen < 188
    assert all(v >= 188 for v in values)


# -- the two admission functions agree -------------------------------------------------------


@settings(deadline=None, max_examples=200)
@given(
    quota=st.integers(1, 5),
    daily_quota=st.none() | st.integers(1, 5),
    daily_budget=st.none() | st.integers(5000, 20_000),
    issued=st.integers(0, 6),
    issued_today=st.integers(0, 6),
    available=st.integers(0, 30_000),
    reserved_today=st.integers(0, 30_000),
    used=st.tuples(st.integers(0, 3), st.integers(0, 3)),
)
def test_admit_compiled_equals_admit_claim(
    quota: int,
    daily_quota: int | None,
    daily_budget: int | None,
    issued: int,
    issued_today: int,
    available: int,
    reserved_today: int,
    used: tuple[int, int],
) -> None:
    limits = (Limit(Subject.CARD, Period.DAY, 1), Limit(Subject.CUSTOMER, Period.CAMPAIGN, 2))
    spec = stock(
        value=TIERS,
        budget_fen=10**6,
        quota=quota,
        daily_quota=None if daily_quota is None else min(daily_quota, quota),
        daily_budget_fen=None if daily_budget is None else max(daily_budget, 18_800),
        limits=limits,
    )
    rules = StockRules(spec)
    plan = screen_claim(rules, claim_request(1), "u1", FRIDAY_10, seed=1)
    assert not isinstance(plan, Outcome)
    counters = (issued, issued_today, available, reserved_today, used)
    assert admit_compiled(rules, plan, *counters) == admit_claim(spec, plan, *counters)


def test_rules_are_shared_across_engines_of_one_store() -> None:
    store = MemoryStore()
    first = Engine(store, seed=1)
    first.create_stock(stock(), "create", FRIDAY)
    second = Engine(store, seed=1)
    assert second.claim(claim_request("a", card="k"), FRIDAY_10).outcome is Outcome.OK
    assert first.claim(claim_request("b", card="k"), FRIDAY_10).outcome is Outcome.LIMIT_REACHED
