"""Stock definitions: a bad value raises InvalidDefinition naming the field, the value and the
rule; the dict format (spec_io) names the full key path and round-trips."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from engine_kit import FRIDAY, SEASON, stock

from engine import (
    ClaimWindow,
    Discount,
    Eligibility,
    Funding,
    InvalidDefinition,
    Limit,
    Period,
    RandomAmount,
    Scope,
    Subject,
    Tier,
    Validity,
    Voucher,
    WeeklySlot,
)
from engine.rules import StockRules
from engine.spec_io import stock_from_dict, stock_to_dict
from engine.store import redis_args


@pytest.mark.parametrize(
    ("build", "field", "value"),
    [
        (lambda: Voucher(face_fen=-5000), "value.face_fen", -5000),
        (lambda: Voucher(face_fen=0), "value.face_fen", 0),
        (lambda: Voucher(5000, threshold_fen=-1), "value.threshold_fen", -1),
        (lambda: Discount(percent_off=0, cap_fen=100), "value.percent_off", 0),
        (lambda: Discount(percent_off=101, cap_fen=100), "value.percent_off", 101),
        (lambda: Discount(percent_off=-5, cap_fen=100), "value.percent_off", -5),
        (lambda: Discount(percent_off=20, cap_fen=-1), "value.cap_fen", -1),
        (lambda: Tier(188, weight=0), "value.tiers.weight", 0),
        (lambda: Tier(188, weight=-1.5), "value.tiers.weight", -1.5),
        (lambda: Tier(-188, weight=1), "value.tiers.amount_fen", -188),
        (
            lambda: RandomAmount(min_fen=188, max_fen_declared=100, mean_fen=150),
            "value.max_fen",
            100,
        ),
        (
            lambda: RandomAmount(min_fen=188, max_fen_declared=18800, mean_fen=100),
            "value.mean_fen",
            100,
        ),
        (lambda: ClaimWindow(FRIDAY, FRIDAY - 1), "window.end_s", FRIDAY - 1),
        (lambda: ClaimWindow(FRIDAY, FRIDAY), "window.end_s", FRIDAY),
        (lambda: WeeklySlot(4, 1320, 600), "window.weekly.end_minute", 600),
        (lambda: WeeklySlot(7, 600, 1320), "window.weekly.weekday", 7),
        (lambda: WeeklySlot(4, 600, 1441), "window.weekly.end_minute", 1441),
        (lambda: Validity(days_after_claim=0), "validity.days_after_claim", 0),
        (lambda: Validity(days_after_claim=91), "validity.days_after_claim", 91),
        (lambda: Limit(Subject.CARD, Period.DAY, 0), "limits.count", 0),
        (lambda: Limit("iris", Period.DAY, 1), "limits.subject", "iris"),  # type: ignore[arg-type]
        (lambda: stock(quota=0), "quota", 0),
        (lambda: stock(budget_fen=4999), "budget_fen", 4999),
        (lambda: stock(budget_fen=-1), "budget_fen", -1),
        (lambda: stock(daily_quota=0), "daily_quota", 0),
        (lambda: stock(daily_budget_fen=100), "daily_budget_fen", 100),
        (lambda: stock(stock_id="has space"), "stock_id", "has space"),
        (lambda: stock(funding="credit"), "funding", "credit"),
        (lambda: stock(refund_policy="keep"), "refund_policy", "keep"),
        (lambda: stock(timezone="Mars/Olympus"), "timezone", "Mars/Olympus"),
        (lambda: stock(challenge_pass_share=1.5), "challenge_pass_share", 1.5),
        (lambda: Scope(items={"milk"}), "scope.items", {"milk"}),  # type: ignore[arg-type]
        (lambda: Scope(categories=frozenset({1})), "scope.categories", frozenset({1})),  # type: ignore[arg-type]
        (lambda: Eligibility(whitelist=["u1"]), "eligibility.whitelist", ["u1"]),  # type: ignore[arg-type]
        (
            lambda: Eligibility(new_customers_only="yes"),  # type: ignore[arg-type]
            "eligibility.new_customers_only",
            "yes",
        ),
        (lambda: WeeklySlot(True, 600, 1320), "window.weekly.weekday", True),
        (
            lambda: ClaimWindow(FRIDAY, FRIDAY + 1, [WeeklySlot(4, 600, 1320)]),  # type: ignore[arg-type]
            "window.weekly",
            [WeeklySlot(4, 600, 1320)],
        ),
        (
            lambda: RandomAmount(min_fen=100, max_fen_declared=200, mean_fen=150.5),  # type: ignore[arg-type]
            "value.mean_fen",
            150.5,
        ),
    ],
)
def test_bad_definitions_name_field_and_value(build: Any, field: str, value: object) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        build()
    assert caught.value.field == field
    assert caught.value.value == value
    assert field in str(caught.value) and repr(value) in str(caught.value)
    assert caught.value.expected


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(InvalidDefinition, match=r"window\.end_s"):
        ClaimWindow(FRIDAY, math.inf)
    with pytest.raises(InvalidDefinition, match=r"window\.start_s"):
        ClaimWindow(math.nan, FRIDAY)
    with pytest.raises(InvalidDefinition, match=r"tiers\.weight"):
        Tier(188, math.nan)
    with pytest.raises(InvalidDefinition, match=r"tiers\.weight"):
        Tier(188, math.inf)


def test_budget_below_one_random_top_prize_is_refused() -> None:
    value = RandomAmount(tiers=(Tier(188, 1000), Tier(18800, 1)))
    with pytest.raises(InvalidDefinition, match="budget_fen = 10000") as caught:
        stock(value=value, budget_fen=10_000)
    assert "18800" in caught.value.expected


def test_tiers_and_min_max_together_are_refused() -> None:
    with pytest.raises(InvalidDefinition, match="not both"):
        RandomAmount(tiers=(Tier(188, 1),), min_fen=1, max_fen_declared=10, mean_fen=5)


def test_validity_must_end_after_the_window_opens() -> None:
    with pytest.raises(InvalidDefinition) as caught:
        stock(window=SEASON, validity=Validity(fixed_end_s=FRIDAY - 1))
    assert caught.value.field == "validity.fixed_end_s"


def test_validity_needs_exactly_one_form() -> None:
    with pytest.raises(InvalidDefinition, match="exactly one"):
        Validity()
    with pytest.raises(InvalidDefinition, match="exactly one"):
        Validity(fixed_end_s=FRIDAY, days_after_claim=3)


def test_one_limit_per_subject_and_period() -> None:
    twice = (Limit(Subject.CARD, Period.DAY, 1), Limit(Subject.CARD, Period.DAY, 2))
    with pytest.raises(InvalidDefinition, match="one limit per subject and period"):
        stock(limits=twice)


# -- the dict format ------------------------------------------------------------------------

FRIDAY_TABLE: dict[str, Any] = {
    "id": "friday",
    "name": "周五嗨购日 满200减50",
    "kind": "voucher",
    "face_fen": 5000,
    "threshold_fen": 20000,
    "quota": 50000,
    "budget_fen": 250_000_000,
    "limits": [{"subject": "card", "period": "day", "count": 1}],
    "window": {
        "start": "2026-12-04T00:00:00+08:00",
        "end": "2027-03-05T00:00:00+08:00",
        "weekly": [{"weekday": "fri", "start": "10:00", "end": "22:00"}],
    },
    "validity": {"days_after_claim": 7},
}


def _with(path: str, value: object) -> dict[str, Any]:
    """FRIDAY_TABLE with the value at dotted ``path`` (``[i]`` for list items) replaced;
    ``...`` (Ellipsis) deletes the key."""
    table = copy.deepcopy(FRIDAY_TABLE)
    *parents, leaf = path.replace("[", ".").replace("]", "").split(".")
    node: Any = table
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is ...:
        del node[leaf]
    else:
        node[int(leaf) if leaf.isdigit() else leaf] = value
    return table


def test_friday_table_parses_to_the_seed_stock() -> None:
    spec = stock_from_dict(FRIDAY_TABLE)
    assert spec == stock(name="周五嗨购日 满200减50", window=spec.window)
    assert spec.window.start_s == FRIDAY
    assert spec.window.weekly == (WeeklySlot(4, 600, 1320),)


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("face_fen", -1, "stock.face_fen"),
        ("quota", "many", "stock.quota"),
        ("budget_fen", 100, "stock.budget_fen"),
        ("colour", "red", "stock.colour"),
        ("kind", "gift", "stock.kind"),
        ("id", ..., "stock.id"),
        ("window.end", "2026-12-01T00:00:00+08:00", "stock.window.end"),
        ("window.start", "2026-12-04 00:00", "stock.window.start"),
        ("window.weekly[0].weekday", "friday", "stock.window.weekly[0].weekday"),
        ("window.weekly[0].end", "09:00", "stock.window.weekly[0].end"),
        ("window.weekly[0].start", "25:00", "stock.window.weekly[0].start"),
        ("window.weekly[0].open", "10:00", "stock.window.weekly[0].open"),
        ("limits[0].period", "year", "stock.limits[0].period"),
        ("limits[0].count", 0, "stock.limits[0].count"),
        ("validity.days_after_claim", 120, "stock.validity.days_after_claim"),
        ("validity.end", "2026-01-01T00:00:00+08:00", "stock.validity"),
        ("window.weekly[0].end", "24:30", "stock.window.weekly[0].end"),
        ("scope", {"skus": ["a"]}, "stock.scope.skus"),
        ("eligibility", {"new_customers_only": "yes"}, "stock.eligibility.new_customers_only"),
    ],
)
def test_dict_errors_name_the_key_path(path: str, value: object, named: str) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        stock_from_dict(_with(path, value))
    assert caught.value.field.startswith(named), caught.value.field
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # the window's order, in the values as written (not epoch seconds, not start_s)
        ("window.end", "2026-12-01T00:00:00+08:00",
         "stock.window.end = '2026-12-01T00:00:00+08:00': expected a time after start ="
         " '2026-12-04T00:00:00+08:00'"),
        ("window.weekly[0].end", "09:00",
         "stock.window.weekly[0].end = '09:00': expected a local time after start = '10:00'"),
        ("window.weekly[0].end", "24:30",
         "stock.window.weekly[0].end = '24:30': expected a local time 'HH:MM' (00:00 to 24:00)"),
        ("validity", {"end": "2026-01-01T00:00:00+08:00"},
         "stock.validity.end = '2026-01-01T00:00:00+08:00': expected a time after window.start"
         " = '2026-12-04T00:00:00+08:00' (else no coupon is ever valid)"),
        # one validity form: the table as written, not Validity(...) under "validity.validity"
        ("validity", {},
         "stock.validity = {}: expected exactly one of end (a time) and days_after_claim (a"
         " number of days)"),
        ("validity", {"end": "2027-01-01T00:00:00+08:00", "days_after_claim": 3},
         "stock.validity = {'end': '2027-01-01T00:00:00+08:00', 'days_after_claim': 3}: expected"
         " exactly one of end (a time) and days_after_claim (a number of days)"),
        ("name", 5, "stock.name = 5: expected a string"),  # not silently "5"
        ("daily_quota", 60_000, "stock.daily_quota = 60000: expected at most quota (50000)"),
    ],
)  # fmt: skip
def test_dict_errors_read_as_written(path: str, value: object, message: str) -> None:
    """The key as the user wrote it, the value as written, what was expected."""
    with pytest.raises(InvalidDefinition) as caught:
        stock_from_dict(_with(path, value))
    assert str(caught.value) == message


def test_the_python_api_refuses_the_same_mistakes() -> None:
    with pytest.raises(InvalidDefinition, match="name = 5"):
        stock(name=5)
    with pytest.raises(InvalidDefinition, match="daily_quota = 9: expected at most quota"):
        stock(quota=8, daily_quota=9)
    with pytest.raises(InvalidDefinition) as caught:
        Validity()
    assert "Validity(" not in str(caught.value) and "days_after_claim" in str(caught.value)


def test_random_tier_errors_name_the_tier() -> None:
    table = {k: v for k, v in FRIDAY_TABLE.items() if k not in ("face_fen", "threshold_fen")}
    table.update(
        kind="random", tiers=[{"amount_fen": 188, "weight": 10}, {"amount_fen": 888, "weight": 0}]
    )
    with pytest.raises(InvalidDefinition) as caught:
        stock_from_dict(table)
    assert caught.value.field == "stock.tiers[1].weight"


def test_a_stock_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(InvalidDefinition, match="stocks\\[2\\]"):
        stock_from_dict(["not", "a", "table"], "stocks[2]")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        Voucher(5000, 20000),
        Discount(20, 3000, 10000),
        RandomAmount(tiers=(Tier(188, 1000), Tier(388, 500), Tier(18800, 1))),
        RandomAmount(min_fen=188, max_fen_declared=18800, mean_fen=388),
    ],
)
def test_dict_round_trip(value: Any) -> None:
    spec = stock(value=value, daily_quota=5000, budget_fen=10**9)
    assert stock_from_dict(stock_to_dict(spec)) == spec


@pytest.mark.parametrize("funding", list(Funding))
def test_funding_mode_is_kept_and_reported(funding: Funding) -> None:
    """Prepaid (预充值) and postpaid (免充值) stocks decide alike; the mode is reported with the
    stock (the dict format is what the HTTP API and the simulation summary show)."""
    spec = stock(funding=funding.value)
    assert spec.funding is funding
    table = stock_to_dict(spec)
    assert table["funding"] == funding.value
    assert stock_from_dict(table) == spec


def test_whether_a_limit_counts_persons_is_derived_once_in_the_stock_rules() -> None:
    """``StockRules.person_limit_index`` (the first person limit, -1: none) and
    ``person_limited`` are the one derivation every store reads (the memory and SQLite stores
    keep each claim's person when set; the Redis claim script gets 1 + the index)."""
    limits = (
        Limit(Subject.CARD, Period.DAY, 1),
        Limit(Subject.PERSON, Period.WEEK, 2),
        Limit(Subject.PERSON, Period.DAY, 1),
    )
    rules = StockRules(stock(limits=limits))
    assert (rules.person_limited, rules.person_limit_index) == (True, 1)
    assert redis_args.claim_stock_args(rules, False, ())[-1] == 2
    plain = StockRules(stock())
    assert (plain.person_limited, plain.person_limit_index) == (False, -1)
    assert redis_args.claim_stock_args(plain, False, ())[-1] == 0
    assert not hasattr(stock(), "person_limited")  # not a second derivation on the spec
