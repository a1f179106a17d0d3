"""Stocks to and from plain dicts (TOML tables, JSON bodies).

One format serves scenario files, the HTTP API and stored definitions. Parsing is strict: an
unknown key, a wrong type or an impossible value raises :class:`~engine.errors.InvalidDefinition`
naming the full key path (``stocks[0].window.weekly[1].start``), the value and what was expected.

Format (every amount in integer fen; times as ISO 8601 strings with an offset, or epoch seconds)::

    id = "friday"                   # required
    name = "周五嗨购日 满200减50"
    kind = "voucher"                # voucher | discount | random
    face_fen = 5000                 # voucher
    threshold_fen = 20000           # optional 满减 threshold (all kinds)
    percent_off = 20                # discount: 1..100 …
    cap_fen = 3000                  # … capped per coupon
    tiers = [{amount_fen = 188, weight = 1000}]   # random: weighted tiers, or
    min_fen = 188                   # … min / max / mean
    max_fen = 18800
    mean_fen = 388
    quota = 50000
    daily_quota = 5000              # optional
    budget_fen = 250000000
    daily_budget_fen = 25000000     # optional
    funding = "prepaid"             # prepaid | postpaid
    refund_policy = "forfeit"       # forfeit | return_if_valid
    review_policy = "reject"        # reject | pass_and_flag | challenge
    challenge_pass_share = 0.9
    timezone = "Asia/Shanghai"
    limits = [{subject = "card", period = "day", count = 1}]
    window = {start = "2026-12-04T00:00:00+08:00", end = "2027-03-05T00:00:00+08:00",
              weekly = [{weekday = "fri", start = "10:00", end = "22:00"}]}
    validity = {days_after_claim = 7}          # or {end = "…"}
    scope = {items = ["sku-1"], categories = ["supermarket"]}   # omit for order-wide
    eligibility = {segments = ["new"], whitelist = [], new_customers_only = false}
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from engine.errors import InvalidDefinition
from engine.stock import (
    ClaimWindow,
    Eligibility,
    Limit,
    Scope,
    StockSpec,
    Validity,
    WeeklySlot,
)
from engine.values import CouponValue, Discount, RandomAmount, Tier, Voucher

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_VALUE_KEYS = {
    "voucher": {"face_fen", "threshold_fen"},
    "discount": {"percent_off", "cap_fen", "threshold_fen"},
    "random": {"tiers", "min_fen", "max_fen", "mean_fen", "threshold_fen"},
}
_COMMON_KEYS = {
    "id",
    "name",
    "kind",
    "quota",
    "daily_quota",
    "budget_fen",
    "daily_budget_fen",
    "funding",
    "refund_policy",
    "review_policy",
    "challenge_pass_share",
    "timezone",
    "limits",
    "window",
    "validity",
    "scope",
    "eligibility",
}
_DEFAULT_TZ = "Asia/Shanghai"


def check_keys(table: Mapping[str, Any], allowed: set[str], path: str) -> None:
    """Refuse keys outside ``allowed``, naming the first unknown one with its full path."""
    if not isinstance(table, Mapping):
        raise InvalidDefinition(path or "(top)", table, "a table")
    for key in table:
        if key not in allowed:
            raise InvalidDefinition(
                f"{path}.{key}" if path else key,
                table[key],
                f"no such key (allowed: {', '.join(sorted(allowed))})",
            )


def require(table: Mapping[str, Any], key: str, path: str) -> Any:
    """``table[key]``, or an error naming the missing key."""
    if key not in table:
        raise InvalidDefinition(f"{path}.{key}" if path else key, None, "a value (missing)")
    return table[key]


def parse_time(value: object, path: str) -> float:
    """Epoch seconds from a number or an ISO 8601 string that carries its UTC offset."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidDefinition(path, value, "an ISO 8601 time with offset") from None
    else:
        raise InvalidDefinition(path, value, "an ISO 8601 time with offset, or epoch seconds")
    if moment.tzinfo is None:
        raise InvalidDefinition(path, value, "a time with a UTC offset, e.g. +08:00")
    return moment.timestamp()


def _minute(value: object, path: str) -> int:
    """Minutes since local midnight of ``'HH:MM'``, 00:00 to 24:00 (the end of the day)."""
    if not isinstance(value, str) or len(value.split(":")) != 2:
        raise InvalidDefinition(path, value, "a local time 'HH:MM'")
    hours, minutes = value.split(":")
    if not (hours.isdigit() and minutes.isdigit()) or int(minutes) >= 60:
        raise InvalidDefinition(path, value, "a local time 'HH:MM' (00:00 to 24:00)")
    minute = int(hours) * 60 + int(minutes)
    if minute > 24 * 60:
        raise InvalidDefinition(path, value, "a local time 'HH:MM' (00:00 to 24:00)")
    return minute


def _located(error: InvalidDefinition, path: str) -> InvalidDefinition:
    """The same error with its field placed under ``path``."""
    field = error.field.removeprefix("value.")  # value fields sit at the stock's top level
    head, _, leaf = field.rpartition(".")
    field = f"{head}.{_KEY_OF.get(leaf, leaf)}" if head else _KEY_OF.get(leaf, leaf)
    return InvalidDefinition(f"{path}.{field}", error.value, error.expected)


def _value(table: Mapping[str, Any], path: str) -> CouponValue:
    kind = require(table, "kind", path)
    if kind not in _VALUE_KEYS:
        raise InvalidDefinition(f"{path}.kind", kind, "one of voucher, discount, random")
    check_keys(table, _COMMON_KEYS | _VALUE_KEYS[kind], path)
    threshold = table.get("threshold_fen", 0)
    if kind == "voucher":
        return Voucher(require(table, "face_fen", path), threshold)
    if kind == "discount":
        return Discount(
            require(table, "percent_off", path), require(table, "cap_fen", path), threshold
        )
    tiers = table.get("tiers", [])
    if tiers:
        if not isinstance(tiers, list):
            raise InvalidDefinition(f"{path}.tiers", tiers, "a list of {amount_fen, weight}")
        if any(key in table for key in ("min_fen", "max_fen", "mean_fen")):
            raise InvalidDefinition(
                f"{path}.tiers", tiers, "either tiers or min_fen/max_fen/mean_fen, not both"
            )
        return RandomAmount(
            tiers=tuple(_tier(tier, f"{path}.tiers[{i}]") for i, tier in enumerate(tiers)),
            threshold_fen=threshold,
        )
    return RandomAmount(
        min_fen=require(table, "min_fen", path),
        max_fen_declared=require(table, "max_fen", path),
        mean_fen=require(table, "mean_fen", path),
        threshold_fen=threshold,
    )


def _tier(table: Mapping[str, Any], path: str) -> Tier:
    check_keys(table, {"amount_fen", "weight"}, path)
    with _at(path):
        return Tier(require(table, "amount_fen", path), require(table, "weight", path))


@contextlib.contextmanager
def _at(path: str) -> Iterator[None]:
    """Re-raise a value's own :class:`InvalidDefinition` under ``path`` (its last field name kept),
    e.g. ``value.tiers.weight`` becomes ``stock.tiers[2].weight``."""
    try:
        yield
    except InvalidDefinition as error:
        if error.field.startswith(path):
            raise
        leaf = error.field.rsplit(".", 1)[-1]
        raise InvalidDefinition(
            f"{path}.{_KEY_OF.get(leaf, leaf)}", error.value, error.expected
        ) from None


# Field names of the value classes -> the keys of this format.
_KEY_OF = {
    "start_minute": "start",
    "end_minute": "end",
    "start_s": "start",
    "end_s": "end",
    "fixed_end_s": "end",
}


def _window(table: Mapping[str, Any], path: str) -> ClaimWindow:
    check_keys(table, {"start", "end", "weekly"}, path)
    slots = []
    weekly = table.get("weekly", [])
    if not isinstance(weekly, list):
        raise InvalidDefinition(f"{path}.weekly", weekly, "a list of {weekday, start, end}")
    for index, slot in enumerate(weekly):
        slots.append(_slot(slot, f"{path}.weekly[{index}]"))
    start, end = require(table, "start", path), require(table, "end", path)
    start_s, end_s = parse_time(start, f"{path}.start"), parse_time(end, f"{path}.end")
    if end_s <= start_s:  # checked here to name the values as written, not epoch seconds
        raise InvalidDefinition(f"{path}.end", end, f"a time after start = {start!r}")
    with _at(path):
        return ClaimWindow(start_s, end_s, tuple(slots))


def _slot(slot: Mapping[str, Any], where: str) -> WeeklySlot:
    check_keys(slot, {"weekday", "start", "end"}, where)
    weekday = require(slot, "weekday", where)
    if weekday not in WEEKDAYS:
        raise InvalidDefinition(f"{where}.weekday", weekday, f"one of {', '.join(WEEKDAYS)}")
    start, end = require(slot, "start", where), require(slot, "end", where)
    start_minute, end_minute = _minute(start, f"{where}.start"), _minute(end, f"{where}.end")
    if end_minute <= start_minute:
        raise InvalidDefinition(f"{where}.end", end, f"a local time after start = {start!r}")
    with _at(where):
        return WeeklySlot(WEEKDAYS.index(weekday), start_minute, end_minute)


def _validity(table: Mapping[str, Any], path: str) -> Validity:
    check_keys(table, {"end", "days_after_claim"}, path)
    if ("end" in table) == ("days_after_claim" in table):
        expected = "exactly one of end (a time) and days_after_claim (a number of days)"
        raise InvalidDefinition(path, dict(table), expected)
    end = table.get("end")
    with _at(path):
        return Validity(
            fixed_end_s=None if end is None else parse_time(end, f"{path}.end"),
            days_after_claim=table.get("days_after_claim"),
        )


def _strings(table: Mapping[str, Any], key: str, path: str) -> frozenset[str]:
    values = table.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidDefinition(f"{path}.{key}", values, "a list of strings")
    return frozenset(values)


def _limits(items: object, path: str) -> tuple[Limit, ...]:
    if not isinstance(items, list):
        raise InvalidDefinition(path, items, "a list of {subject, period, count}")
    limits = []
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        check_keys(item, {"subject", "period", "count"}, where)
        try:
            limits.append(
                Limit(
                    require(item, "subject", where),
                    require(item, "period", where),
                    require(item, "count", where),
                )
            )
        except InvalidDefinition as error:
            raise InvalidDefinition(
                f"{where}.{error.field.split('.')[-1]}", error.value, error.expected
            ) from None
    return tuple(limits)


def stock_from_dict(table: Mapping[str, Any], path: str = "stock") -> StockSpec:
    """Parse one stock table. Raises :class:`InvalidDefinition` with the full key path."""
    try:
        return _stock(table, path)
    except InvalidDefinition as error:
        if error.field.startswith(path):
            raise
        raise _located(error, path) from None


def _stock(table: Mapping[str, Any], path: str) -> StockSpec:
    if not isinstance(table, Mapping):
        raise InvalidDefinition(path, table, "a table")
    value = _value(table, path)
    scope = table.get("scope", {})
    check_keys(scope, {"items", "categories"}, f"{path}.scope")
    eligibility = table.get("eligibility", {})
    check_keys(eligibility, {"segments", "whitelist", "new_customers_only"}, f"{path}.eligibility")
    new_only = eligibility.get("new_customers_only", False)
    if not isinstance(new_only, bool):
        raise InvalidDefinition(f"{path}.eligibility.new_customers_only", new_only, "true/false")
    name = table.get("name", "")
    if not isinstance(name, str):
        raise InvalidDefinition(f"{path}.name", name, "a string")
    window = _window(require(table, "window", path), f"{path}.window")
    validity = _validity(require(table, "validity", path), f"{path}.validity")
    _check_validity_end(table, validity, window, path)
    return StockSpec(
        stock_id=require(table, "id", path),
        value=value,
        quota=require(table, "quota", path),
        budget_fen=require(table, "budget_fen", path),
        window=window,
        validity=validity,
        name=name,
        daily_quota=table.get("daily_quota"),
        daily_budget_fen=table.get("daily_budget_fen"),
        funding=table.get("funding", "prepaid"),
        limits=_limits(table.get("limits", []), f"{path}.limits"),
        scope=Scope(
            _strings(scope, "items", f"{path}.scope"),
            _strings(scope, "categories", f"{path}.scope"),
        ),
        eligibility=Eligibility(
            _strings(eligibility, "segments", f"{path}.eligibility"),
            _strings(eligibility, "whitelist", f"{path}.eligibility"),
            new_only,
        ),
        refund_policy=table.get("refund_policy", "forfeit"),
        review_policy=table.get("review_policy", "reject"),
        challenge_pass_share=table.get("challenge_pass_share", 0.9),
        timezone=table.get("timezone", _DEFAULT_TZ),
    )


def _check_validity_end(
    table: Mapping[str, Any], validity: Validity, window: ClaimWindow, path: str
) -> None:
    """A fixed validity end after the window's start (else no coupon is ever valid), named with
    both values as written (StockSpec checks it too, in epoch seconds)."""
    if validity.fixed_end_s is not None and validity.fixed_end_s <= window.start_s:
        raise InvalidDefinition(
            f"{path}.validity.end",
            table["validity"]["end"],
            f"a time after window.start = {table['window']['start']!r}"
            " (else no coupon is ever valid)",
        )


def stock_to_dict(spec: StockSpec) -> dict[str, Any]:
    """The inverse of :func:`stock_from_dict` (times as epoch seconds)."""
    table: dict[str, Any] = {"id": spec.stock_id, "name": spec.name, "kind": spec.kind.value}
    table.update(_value_to_dict(spec.value))
    table.update(
        quota=spec.quota,
        budget_fen=spec.budget_fen,
        funding=spec.funding.value,
        refund_policy=spec.refund_policy.value,
        review_policy=spec.review_policy.value,
        challenge_pass_share=spec.challenge_pass_share,
        timezone=spec.timezone,
    )
    if spec.daily_quota is not None:
        table["daily_quota"] = spec.daily_quota
    if spec.daily_budget_fen is not None:
        table["daily_budget_fen"] = spec.daily_budget_fen
    table["limits"] = [
        {"subject": lim.subject.value, "period": lim.period.value, "count": lim.count}
        for lim in spec.limits
    ]
    table["window"] = _window_to_dict(spec.window)
    validity = spec.validity
    table["validity"] = (
        {"end": validity.fixed_end_s}
        if validity.fixed_end_s is not None
        else {"days_after_claim": validity.days_after_claim}
    )
    table["scope"] = {
        "items": sorted(spec.scope.items),
        "categories": sorted(spec.scope.categories),
    }
    table["eligibility"] = _eligibility_to_dict(spec.eligibility)
    return table


def _window_to_dict(window: ClaimWindow) -> dict[str, Any]:
    slots = [
        {"weekday": WEEKDAYS[s.weekday], "start": _hhmm(s.start_minute), "end": _hhmm(s.end_minute)}
        for s in window.weekly
    ]
    return {"start": window.start_s, "end": window.end_s, "weekly": slots}


def _eligibility_to_dict(eligibility: Eligibility) -> dict[str, Any]:
    return {
        "segments": sorted(eligibility.segments),
        "whitelist": sorted(eligibility.whitelist),
        "new_customers_only": eligibility.new_customers_only,
    }


def _value_to_dict(value: CouponValue) -> dict[str, Any]:
    if isinstance(value, Voucher):
        return {"face_fen": value.face_fen, "threshold_fen": value.threshold_fen}
    if isinstance(value, Discount):
        return {
            "percent_off": value.percent_off,
            "cap_fen": value.cap_fen,
            "threshold_fen": value.threshold_fen,
        }
    if value.tiers:
        return {
            "tiers": [{"amount_fen": t.amount_fen, "weight": t.weight} for t in value.tiers],
            "threshold_fen": value.threshold_fen,
        }
    return {
        "min_fen": value.min_fen,
        "max_fen": value.max_fen_declared,
        "mean_fen": value.mean_fen,
        "threshold_fen": value.threshold_fen,
    }


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
