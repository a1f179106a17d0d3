"""Parsing a scenario's ``[[segments]]`` tables into validated :class:`~sim.segments.Segment`
values.

Strict, as every scenario section: an unknown key, a wrong type or a value beyond its bound
raises :class:`~engine.errors.InvalidDefinition` naming the key path, the value and what was
expected (``segments[2].claim_probability = 1.4: expected a probability in 0..1``). Besides each
key's own bound, a segment's products are bounded too (expected claimers, ring accounts,
follow-on purchases), so that no file can ask for a run that does not fit in memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from engine.errors import InvalidDefinition
from engine.spec_io import check_keys
from sim.distributions import amount_dist, delay_dist
from sim.segments import (
    ACTIVATION_DELAY_DEFAULTS,
    COMMON_KEYS,
    CUSTOMER_ADDRESSES,
    DEFAULT_ACTIVITY_BY_HOUR,
    KINDS,
    LEGIT_DEFAULTS,
    LEGIT_KEYS,
    MAX_ACTIVITY_WEIGHT,
    MAX_DAYS,
    MAX_EXPECTED_CLAIMERS,
    MAX_FOLLOW_ON_PURCHASES,
    MAX_IPS_PER_RING,
    MAX_PURCHASES_PER_WEEK,
    MAX_RING_ACCOUNTS,
    MAX_SEGMENT_SIZE,
    MAX_TOPUP,
    RATE_DEFAULTS,
    RING_DEFAULTS,
    RING_KEYS,
    RING_SUBNETS,
    Segment,
)


def _is_probability(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def _probability(table: Mapping[str, Any], key: str, path: str, default: float) -> float:
    value = table.get(key, default)
    if not _is_probability(value):
        raise InvalidDefinition(f"{path}.{key}", value, "a probability in 0..1")
    return float(value)


def _nonneg(table: Mapping[str, Any], key: str, path: str, default: float, maximum: float) -> float:
    value = table.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 <= value <= maximum:
        raise InvalidDefinition(f"{path}.{key}", value, f"a number in 0..{maximum:g}")
    return float(value)


def _count(
    table: Mapping[str, Any], key: str, path: str, default: int, minimum: int, maximum: int
) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise InvalidDefinition(f"{path}.{key}", value, f"an integer in {minimum}..{maximum:,}")
    return value


def _spike_shares(
    table: Mapping[str, Any],
    path: str,
    stocks: tuple[str, ...],
    default: float,
    recurring: frozenset[str],
) -> tuple[tuple[str, float], ...]:
    """``spike_share`` is one probability for every stock of the segment, or a table
    ``{stock_id = share}``. Stocks it leaves out get ``default`` when their window recurs
    weekly (a flash-sale window has a rush at each opening) and 0 otherwise: a stock open for
    the whole campaign has no announced opening moment to rush at."""

    def fallback(stock: str) -> float:
        return default if stock in recurring else 0.0

    value = table.get("spike_share")
    if value is None:
        return tuple((stock, fallback(stock)) for stock in stocks)
    if not isinstance(value, Mapping):
        share = _probability(table, "spike_share", path, default)
        return tuple((stock, share) for stock in stocks)
    for stock, share in value.items():
        if stock not in stocks:
            raise InvalidDefinition(
                f"{path}.spike_share.{stock}", share, f"a stock of this segment ({stocks})"
            )
        if not _is_probability(share):
            raise InvalidDefinition(f"{path}.spike_share.{stock}", share, "a probability in 0..1")
    return tuple((stock, float(value.get(stock, fallback(stock)))) for stock in stocks)


def segment_from_dict(
    table: Mapping[str, Any],
    path: str,
    stock_ids: tuple[str, ...],
    recurring: frozenset[str] = frozenset(),
) -> Segment:
    """Parse one ``[[segments]]`` table; ``stock_ids`` are the scenario's stocks, ``recurring``
    those with a weekly window (their default ``spike_share`` is 0.3, the others' 0)."""
    check_keys(table, set(COMMON_KEYS | LEGIT_KEYS | RING_KEYS), path)
    name = table.get("name")
    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidDefinition(f"{path}.name", name, "a segment name (1-64 characters)")
    kind = table.get("kind")
    if kind not in KINDS:
        raise InvalidDefinition(f"{path}.kind", kind, f"one of {', '.join(KINDS)}")
    allowed = COMMON_KEYS | (RING_KEYS if kind == "wool_puller" else LEGIT_KEYS)
    check_keys(table, set(allowed), path)
    stocks = table.get("stocks", list(stock_ids))
    if not isinstance(stocks, list) or not all(isinstance(s, str) for s in stocks):
        raise InvalidDefinition(f"{path}.stocks", stocks, "a list of stock ids")
    for index, stock in enumerate(stocks):
        if stock not in stock_ids:
            raise InvalidDefinition(
                f"{path}.stocks[{index}]", stock, f"a stock of the scenario ({stock_ids})"
            )
    if kind == "wool_puller":
        return _ring(table, path, name, tuple(stocks))
    return _legit(table, path, name, kind, tuple(stocks), recurring)


def _legit(
    table: Mapping[str, Any],
    path: str,
    name: str,
    kind: str,
    stocks: tuple[str, ...],
    recurring: frozenset[str],
) -> Segment:
    if "size" not in table:
        raise InvalidDefinition(f"{path}.size", None, "a value (missing): customers in segment")
    size = _count(table, "size", path, -1, 0, MAX_SEGMENT_SIZE)
    d = {**LEGIT_DEFAULTS, **RATE_DEFAULTS[kind]}
    # Validated floats for Segment's float fields named in _PROBABILITIES and _RATES (Any:
    # mypy cannot match these string keys to those fields).
    numbers: dict[str, Any] = {k: _probability(table, k, path, d[k]) for k in _PROBABILITIES}
    numbers.update({k: _nonneg(table, k, path, d[k], top) for k, top in _RATES.items()})
    if numbers["repeat_probability"] == 1:
        raise InvalidDefinition(f"{path}.repeat_probability", 1.0, "a probability in 0..1, < 1")
    _check_claimers(path, size, numbers)
    _check_follow_on(path, size, numbers)
    new_customer = table.get("new_customer", kind == "new")
    if not isinstance(new_customer, bool):
        raise InvalidDefinition(f"{path}.new_customer", new_customer, "true or false")
    return Segment(
        name=name,
        kind=kind,
        stocks=stocks,
        size=size,
        **numbers,
        spike_share=_spike_shares(table, path, stocks, d["spike_share"], recurring),
        **_legit_dists(table, path, d, kind),
        new_customer=new_customer,
        ip_pool=_count(table, "ip_pool", path, max(1, size), 1, CUSTOMER_ADDRESSES),
        activity_by_hour=_activity(table, path),
    )


def _activity(table: Mapping[str, Any], path: str) -> tuple[float, ...]:
    """``activity_by_hour``: 24 positive numbers, the relative activity of each local hour."""
    value = table.get("activity_by_hour", list(DEFAULT_ACTIVITY_BY_HOUR))
    expected = f"a list of 24 numbers in (0, {MAX_ACTIVITY_WEIGHT:,.0f}], one per local hour"
    if not isinstance(value, list | tuple) or len(value) != 24:
        raise InvalidDefinition(f"{path}.activity_by_hour", value, expected)
    for hour, weight in enumerate(value):
        ok = isinstance(weight, int | float) and not isinstance(weight, bool)
        if not ok or not math.isfinite(weight) or not 0 < weight <= MAX_ACTIVITY_WEIGHT:
            raise InvalidDefinition(f"{path}.activity_by_hour[{hour}]", weight, expected)
    return tuple(float(weight) for weight in value)


def _check_claimers(path: str, size: int, numbers: Mapping[str, float]) -> None:
    """Bound the SimPy processes a segment asks for (one per claimer and stock, roughly)."""
    expected = size * numbers["exposure_probability"] * numbers["claim_probability"]
    if expected > MAX_EXPECTED_CLAIMERS:
        raise InvalidDefinition(
            f"{path}.claim_probability",
            numbers["claim_probability"],
            f"size × exposure_probability × claim_probability <= {MAX_EXPECTED_CLAIMERS:,}"
            f" expected claimers (here {expected:,.0f})",
        )


def _check_follow_on(path: str, size: int, numbers: Mapping[str, float]) -> None:
    """Bound the follow-on purchases a segment's claimers make after a first use (each drawn
    up front, :func:`sim.attempts.follow_on`): at most :data:`MAX_FOLLOW_ON_PURCHASES` expected
    in the segment (the mean per claimer is at most 100 a week × 366 days = 5,229 by the keys'
    own bounds)."""
    claimers = size * numbers["exposure_probability"] * numbers["claim_probability"]
    rate = numbers["activated_purchases_per_week"]
    per_claimer = rate * numbers["attribution_days"] / 7
    if claimers * per_claimer > MAX_FOLLOW_ON_PURCHASES:
        raise InvalidDefinition(
            f"{path}.activated_purchases_per_week", rate,
            "size × exposure_probability × claim_probability × activated_purchases_per_week"
            f" × attribution_days / 7 <= {MAX_FOLLOW_ON_PURCHASES:,} expected follow-on"
            f" purchases (here {claimers * per_claimer:,.0f})",
        )  # fmt: skip


def check_ring_subnets(segments: tuple[Segment, ...]) -> None:
    """Refuse rings whose IP pools do not fit, together, in the /24 subnets of 10.0.0.0/8
    (:data:`~sim.segments.RING_SUBNETS`): beyond, two rings would share addresses."""
    used = 0
    for index, segment in enumerate(segments):
        used += segment.ring_subnets
        if used > RING_SUBNETS:
            raise InvalidDefinition(
                f"segments[{index}].rings", segment.rings,
                f"rings × ceil(ips_per_ring / 256) over every wool_puller segment <="
                f" {RING_SUBNETS:,} (the /24 subnets of 10.0.0.0/8, one ring's own; here"
                f" {used:,} by this segment)",
            )  # fmt: skip


def _legit_dists(
    table: Mapping[str, Any], path: str, d: Mapping[str, Any], kind: str
) -> dict[str, Any]:
    """The distributions of a customer segment, defaults filled in (keyword arguments of
    :class:`Segment`; ``Any`` as for ``numbers`` in :func:`_legit`)."""
    age_default = (
        {"dist": "uniform", "low_days": 0, "high_days": 30}
        if kind == "new"
        else {"dist": "gamma", "shape": 2.0, "mean_days": 900}
    )
    dists = {
        key: delay_dist(table.get(key, d[key]), f"{path}.{key}")
        for key in ("spike_delay", "claim_delay", "redeem_delay")
    }
    dists["amount"] = amount_dist(table.get("amount", d["amount"]), f"{path}.amount")
    dists["account_age"] = delay_dist(table.get("account_age", age_default), f"{path}.account_age")
    activation = table.get("organic_activation_delay", ACTIVATION_DELAY_DEFAULTS[kind])
    dists["organic_activation_delay"] = delay_dist(activation, f"{path}.organic_activation_delay")
    return dists


_PROBABILITIES = (
    "exposure_probability",
    "claim_probability",
    "redemption_probability",
    "repeat_probability",
    "organic_activation_probability",
)
_RATES = {  # key: the largest value allowed
    "purchases_per_week": MAX_PURCHASES_PER_WEEK,
    "activated_purchases_per_week": MAX_PURCHASES_PER_WEEK,
    "topup": MAX_TOPUP,
    "max_stretch": MAX_TOPUP,
    "pull_forward_days": MAX_DAYS,
    "attribution_days": MAX_DAYS,
}


def _ring(table: Mapping[str, Any], path: str, name: str, stocks: tuple[str, ...]) -> Segment:
    d = RING_DEFAULTS
    rings = _count(table, "rings", path, d["rings"], 1, MAX_RING_ACCOUNTS)
    accounts = _count(
        table, "accounts_per_ring", path, d["accounts_per_ring"], 1, MAX_RING_ACCOUNTS
    )
    if rings * accounts > MAX_RING_ACCOUNTS:
        raise InvalidDefinition(
            f"{path}.accounts_per_ring",
            accounts,
            f"rings × accounts_per_ring <= {MAX_RING_ACCOUNTS:,}",
        )
    return Segment(
        name=name,
        kind="wool_puller",
        stocks=stocks,
        size=rings * accounts,
        rings=rings,
        accounts_per_ring=accounts,
        devices_per_ring=_count(
            table, "devices_per_ring", path, d["devices_per_ring"], 1, MAX_RING_ACCOUNTS
        ),
        ips_per_ring=_count(table, "ips_per_ring", path, d["ips_per_ring"], 1, MAX_IPS_PER_RING),
        participation=_probability(table, "participation", path, d["participation"]),
        claim_latency=delay_dist(
            table.get("claim_latency", d["claim_latency"]), f"{path}.claim_latency"
        ),
        redeem_delay=delay_dist(
            table.get("redeem_delay", d["redeem_delay"]), f"{path}.redeem_delay"
        ),
        hug_fen=_count(table, "hug_fen", path, d["hug_fen"], 0, 10_000_000),
        account_age=delay_dist(table.get("account_age", d["account_age"]), f"{path}.account_age"),
    )
