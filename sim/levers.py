"""Campaign levers: options that change customer behaviour, not the stocks' rules.

WeChat Pay lists ways to raise the redemption rate (domain.md): claim notice, expiry reminder,
checkout reminder, automatic use offline, shorter path, lower threshold. A lower threshold or a
shorter validity is a change of the stock; the reminders are levers. ``[levers]`` in a scenario
(all optional):

* ``expiry_reminder`` (false): send a reminder ``reminder_days_before`` days before a coupon
  expires to every holder who has not used it;
* ``reminder_days_before`` (2.0): when the reminder goes out;
* ``reminder_response`` (0.15): the share of reminded holders who then use the coupon;
* ``reminder_use_within_days`` (1.0): mean delay from the reminder to the use (exponential,
  cut at the coupon's expiry);
* ``checkout_reminder`` (false): remind a holder who does not mean to use the coupon at the
  checkout of their next organic purchase while it is valid (also "automatic use offline");
* ``checkout_response`` (0.3): the share of those reminded who use the coupon on that purchase.

The responses are assumptions to calibrate: domain.md names the levers, not their effect.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidDefinition
from engine.spec_io import check_keys


@dataclass(frozen=True)
class Levers:
    """The validated ``[levers]`` table (durations in days, responses in 0..1)."""

    expiry_reminder: bool = False
    reminder_days_before: float = 2.0
    reminder_response: float = 0.15
    reminder_use_within_days: float = 1.0
    checkout_reminder: bool = False
    checkout_response: float = 0.3


_SWITCHES = ("expiry_reminder", "checkout_reminder")
_RESPONSES = ("reminder_response", "checkout_response")
_DAYS = ("reminder_days_before", "reminder_use_within_days")
MAX_DAYS = 366.0


def levers_from_dict(table: object, path: str = "levers") -> Levers:
    """Parse ``[levers]`` strictly."""
    if not isinstance(table, Mapping):
        raise InvalidDefinition(path, table, "a table")
    check_keys(table, set(Levers.__dataclass_fields__), path)
    defaults = Levers()
    values: dict[str, Any] = {}
    for key in _SWITCHES:
        values[key] = table.get(key, getattr(defaults, key))
        if not isinstance(values[key], bool):
            raise InvalidDefinition(f"{path}.{key}", values[key], "true or false")
    for key in _RESPONSES:
        values[key] = _number(table, key, path, getattr(defaults, key), 0.0, 1.0)
    for key in _DAYS:
        values[key] = _number(table, key, path, getattr(defaults, key), 0.0, MAX_DAYS)
        if values[key] <= 0:
            raise InvalidDefinition(f"{path}.{key}", values[key], "a number of days > 0")
    return Levers(**values)


def _number(
    table: Mapping[str, Any], key: str, path: str, default: float, low: float, high: float
) -> float:
    value = table.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        expected = "a probability in 0..1" if high == 1 else f"a number in {low:g}..{high:g}"
        raise InvalidDefinition(f"{path}.{key}", value, expected)
    return float(value)
