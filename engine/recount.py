"""Reconciliation of the claim counters (对账 of invariant 1): the per-day and per-limit counts
a store keeps, recounted from the issued claims themselves.

The ledger replay (:mod:`engine.ledger`) proves the money and the coupon counts; it cannot see
a limit counter or a daily counter, which no ledger entry moves. Those are recounted here from
the records: every issued claim (its request and the coupon it got), the stock's limits and
calendar, and — for a limit per natural person, who is no field of the request — the person the
store kept with the claim. Nothing is copied from the counters being checked. Pure functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import NamedTuple, TypeVar

from engine.coupon import Coupon
from engine.requests import ClaimRequest
from engine.rules import LimitKey, StockRules

MAX_COUNTER_PROBLEMS = 20  # listed; then how many more


class ClaimCounts(NamedTuple):
    """What the issued claims imply: limit key -> claims, local day -> (claims, fen reserved)."""

    limits: dict[LimitKey, int]
    days: dict[int, tuple[int, int]]
    problems: list[str]  # claims whose limit keys cannot be formed (a record missing)


def recount_claims(
    rules: StockRules,
    claims: Iterable[tuple[ClaimRequest, Coupon]],
    persons: Mapping[str, str],
) -> ClaimCounts:
    """Replay ``claims`` through the stock's limits (:meth:`StockRules.limit_keys`, periods of
    the local day each coupon was claimed in) and count per day; ``persons`` maps coupon id ->
    natural person for a person-limited stock (:meth:`Store.claim_persons`)."""
    limits: Counter[LimitKey] = Counter()
    issued: Counter[int] = Counter()
    reserved: Counter[int] = Counter()
    problems = []
    for request, coupon in claims:
        day = rules.calendar.day(coupon.claimed_s)
        issued[day.day_key] += 1
        reserved[day.day_key] += coupon.value_fen
        if not rules.limit_sources:
            continue
        person = persons.get(coupon.coupon_id) if rules.person_limited else request.customer_id
        keys = None if person is None else rules.limit_keys(request, person, day)
        if keys is None:
            problems.append(f"coupon {coupon.coupon_id}: its claim has no key for every limit")
            continue
        limits.update(keys)
    days = {day: (count, reserved[day]) for day, count in issued.items()}
    return ClaimCounts(dict(limits), days, problems)


def counter_problems(
    rules: StockRules,
    counts: ClaimCounts,
    stored_limits: Mapping[LimitKey, int],
    stored_days: Mapping[int, tuple[int, int]],
) -> list[str]:
    """The stored counters against the recount, and the recount against the stock's bounds.

    Daily counters are compared when the stock has a daily quota or budget, or when the store
    keeps them anyway (a store may keep none for a stock that never reads them). Lists at most
    :data:`MAX_COUNTER_PROBLEMS`, then how many more."""
    problems = list(counts.problems)
    problems += _differences("limit", stored_limits, counts.limits)
    if rules.tracks_days or stored_days:
        problems += _differences("day", stored_days, counts.days)
    problems += _over_bounds(rules, counts)
    if len(problems) > MAX_COUNTER_PROBLEMS:
        more = len(problems) - MAX_COUNTER_PROBLEMS
        problems = [*problems[:MAX_COUNTER_PROBLEMS], f"... and {more} more counter problems"]
    return problems


K = TypeVar("K")
V = TypeVar("V")


def _differences(name: str, stored: Mapping[K, V], recounted: Mapping[K, V]) -> list[str]:
    keys = sorted(stored.keys() | recounted.keys(), key=repr)
    return [
        f"{name} {key}: stored {stored.get(key)} != recounted {recounted.get(key)}"
        for key in keys
        if stored.get(key) != recounted.get(key)
    ]


def _over_bounds(rules: StockRules, counts: ClaimCounts) -> list[str]:
    """Invariant 1 on the recount: no limit, daily quota or daily budget exceeded."""
    problems = [
        f"limit {key}: {used} claims over its count {rules.limit_counts[key[1]]}"
        for key, used in counts.limits.items()
        if used > rules.limit_counts[key[1]]
    ]
    for day, (issued, reserved_fen) in sorted(counts.days.items()):
        if rules.daily_quota is not None and issued > rules.daily_quota:
            problems.append(f"day {day}: {issued} issued over the daily quota")
        if rules.daily_budget_fen is not None and reserved_fen > rules.daily_budget_fen:
            problems.append(f"day {day}: {reserved_fen} fen reserved over the daily budget")
    return problems
