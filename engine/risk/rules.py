"""Risk Rules: what each kind of Rule watches, strict parsing from dicts, and the default pack.

A :class:`Rule` is an immutable value validated on construction. Kinds:

* ``count``: events per ``key`` in a sliding window of ``window_s``; fires when count > threshold;
* ``distinct``: distinct ``distinct`` identifiers per ``key`` in the window (accounts per device);
* ``blocklist`` / ``allowlist``: the ``key`` is on the engine's block (allow) list, entries expire;
* ``account_age``: the account is younger than ``threshold`` seconds (unknown age never fires);
* ``claim_latency``: the claim came less than ``threshold`` seconds after the window opened;
* ``small_orders``: redemptions of at most ``amount_fen`` per ``key`` in the window > threshold;
* ``threshold_hugging``: redemptions landing in ``[threshold_fen, threshold_fen + amount_fen]``
  (just above the stock's 满减 threshold) per ``key`` in the window > threshold.

Every assessed event counts, including the current one: the sixth claim from an IP in five
minutes sees ``6 > 5``. Shadow rules are evaluated and logged, never enforced.

The windowed kinds count across every stock by default; ``per_stock = true`` counts per
(key, stock) instead — "claims by one person *of one stock* in a day", so a customer claiming a
pack of several stocks is not counted once per stock. Windowed thresholds are at most
:data:`MAX_COUNT_THRESHOLD` (a key keeps up to ``2 × threshold + 2`` entries), time thresholds
at most :data:`MAX_WINDOW_S`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from typing import Any

from engine.errors import InvalidDefinition
from engine.validate import parse_enum as _enum

_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class RuleKind(StrEnum):
    COUNT = "count"
    DISTINCT = "distinct"
    BLOCKLIST = "blocklist"
    ALLOWLIST = "allowlist"
    ACCOUNT_AGE = "account_age"
    CLAIM_LATENCY = "claim_latency"
    SMALL_ORDERS = "small_orders"
    THRESHOLD_HUGGING = "threshold_hugging"


class KeyKind(StrEnum):
    """What a Rule counts by. ``ip24`` is the IPv4 /24 subnet; ``person`` the natural person."""

    IP = "ip"
    IP24 = "ip24"
    DEVICE = "device"
    PHONE = "phone"
    CARD = "card"
    CUSTOMER = "customer"
    PERSON = "person"


class RuleAction(StrEnum):
    REJECT = "reject"
    REVIEW = "review"
    SCORE = "score"  # adds ``points`` to the score; the score decides (see engine.risk.decide)
    ALLOW = "allow"  # allowlist rules only: the request passes whatever else fired


class Event(StrEnum):
    CLAIM = "claim"
    REDEMPTION = "redemption"


KEY_KINDS: tuple[KeyKind, ...] = tuple(KeyKind)
# A redemption carries no phone or card: Rules on redemptions count by these keys only.
REDEMPTION_KEYS = frozenset(
    {KeyKind.IP, KeyKind.IP24, KeyKind.DEVICE, KeyKind.CUSTOMER, KeyKind.PERSON}
)
_WINDOWED = frozenset(
    {RuleKind.COUNT, RuleKind.DISTINCT, RuleKind.SMALL_ORDERS, RuleKind.THRESHOLD_HUGGING}
)
_KEYLESS = frozenset({RuleKind.ACCOUNT_AGE, RuleKind.CLAIM_LATENCY})
_LISTS = frozenset({RuleKind.BLOCKLIST, RuleKind.ALLOWLIST})
_ORDERS = frozenset({RuleKind.SMALL_ORDERS, RuleKind.THRESHOLD_HUGGING})
MAX_WINDOW_S = 90 * 86_400.0  # a campaign lasts at most ~90 days; a window never needs more
# A windowed key keeps up to 2 × threshold + 2 entries (engine.risk.windows.cap_for): the bound
# keeps one key under ~160 KB; real thresholds are tens to hundreds.
MAX_COUNT_THRESHOLD = 10_000
MAX_POINTS = 1_000_000.0


@dataclass(frozen=True)
class Rule:
    """One risk Rule. Field names are the dict keys of :func:`rules_from_dicts` (``id`` there).

    ``threshold``: count/distinct/order kinds fire when the value is > threshold (at most
    :data:`MAX_COUNT_THRESHOLD`); age and latency kinds fire when the value (seconds) is <
    threshold (at most :data:`MAX_WINDOW_S`). ``points`` feed the score (required for
    ``action = "score"``). ``event`` says which stream count, distinct and list Rules watch.
    ``per_stock`` (windowed kinds only) counts per (key, stock) instead of per key. ``key`` is
    refused on the keyless kinds (account age, claim latency) rather than ignored.
    """

    rule_id: str
    kind: RuleKind
    action: RuleAction
    key: KeyKind = KeyKind.CUSTOMER
    threshold: float = 0.0
    window_s: float = 0.0
    points: float = 0.0
    shadow: bool = False
    distinct: KeyKind | None = None
    event: Event | None = None  # default: redemption for the order kinds, claim otherwise
    amount_fen: int = 0
    values: tuple[str, ...] = ()
    description: str = ""
    per_stock: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.rule_id, str) or not _ID_PATTERN.match(self.rule_id):
            raise InvalidDefinition("id", self.rule_id, "1-64 characters of [A-Za-z0-9_.-]")
        for name, enum in (("kind", RuleKind), ("action", RuleAction), ("key", KeyKind)):
            object.__setattr__(self, name, _enum(enum, name, getattr(self, name)))
        if self.event is None:
            object.__setattr__(self, "event", default_event(self.kind))
        object.__setattr__(self, "event", _enum(Event, "event", self.event))
        if self.distinct is not None:
            object.__setattr__(self, "distinct", _enum(KeyKind, "distinct", self.distinct))
        _check_types(self)
        _check_kind(self)
        _check_action(self)

    @property
    def windowed(self) -> bool:
        return self.kind in _WINDOWED


def default_event(kind: RuleKind) -> Event:
    """The stream a Rule of ``kind`` watches unless its ``event`` says otherwise."""
    return Event.REDEMPTION if kind in _ORDERS else Event.CLAIM


def _number(name: str, value: object, minimum: float, strict: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):  # type: ignore[operator]
        raise InvalidDefinition(name, value, f"a number {'>' if strict else '>='} {minimum:g}")


def _check_types(rule: Rule) -> None:
    _number("threshold", rule.threshold, 0.0)
    _number("points", rule.points, 0.0)
    _number("window_s", rule.window_s, 0.0)
    if rule.window_s > MAX_WINDOW_S:
        raise InvalidDefinition("window_s", rule.window_s, f"at most {MAX_WINDOW_S:g} s")
    if rule.points > MAX_POINTS:
        raise InvalidDefinition("points", rule.points, f"at most {MAX_POINTS:g}")
    for name in ("shadow", "per_stock"):
        if not isinstance(getattr(rule, name), bool):
            raise InvalidDefinition(name, getattr(rule, name), "true or false")
    if not isinstance(rule.amount_fen, int) or isinstance(rule.amount_fen, bool):
        raise InvalidDefinition("amount_fen", rule.amount_fen, "an integer number of fen")
    if not isinstance(rule.values, tuple) or not all(isinstance(v, str) and v for v in rule.values):
        raise InvalidDefinition("values", rule.values, "a list of non-empty strings")
    if not isinstance(rule.description, str):
        raise InvalidDefinition("description", rule.description, "a string")


def _check_kind(rule: Rule) -> None:
    """What each kind needs, and refuses settings it would silently ignore."""
    kind = rule.kind
    if kind in _WINDOWED:
        _number("window_s", rule.window_s, 0.0, strict=True)
        if rule.threshold > MAX_COUNT_THRESHOLD:
            expected = f"at most {MAX_COUNT_THRESHOLD} (a key keeps 2 x threshold + 2 entries)"
            raise InvalidDefinition("threshold", rule.threshold, expected)
    elif rule.window_s:
        raise InvalidDefinition("window_s", rule.window_s, f"no window for kind {kind}")
    elif rule.per_stock:
        raise InvalidDefinition("per_stock", rule.per_stock, f"absent for kind {kind} (no window)")
    if kind in _KEYLESS:
        _number("threshold", rule.threshold, 0.0, strict=True)
        if rule.threshold > MAX_WINDOW_S:
            raise InvalidDefinition("threshold", rule.threshold, f"at most {MAX_WINDOW_S:g} s")
        if rule.key is not KeyKind.CUSTOMER:  # the default; the dict format refuses any key
            raise InvalidDefinition("key", rule.key.value, f"absent for kind {kind} (no key)")
    if kind in _LISTS and rule.threshold:
        raise InvalidDefinition("threshold", rule.threshold, f"no threshold for kind {kind}")
    if kind in _ORDERS:
        if rule.amount_fen < 1:
            raise InvalidDefinition("amount_fen", rule.amount_fen, "an integer >= 1 (fen)")
    elif rule.amount_fen:
        raise InvalidDefinition("amount_fen", rule.amount_fen, f"no amount for kind {kind}")
    if (kind is RuleKind.DISTINCT) != (rule.distinct is not None):
        expected = "an identifier kind other than key" if kind is RuleKind.DISTINCT else "absent"
        raise InvalidDefinition("distinct", rule.distinct, expected)
    if rule.distinct is not None and rule.distinct is rule.key:
        raise InvalidDefinition("distinct", rule.distinct, "an identifier kind other than key")
    if rule.values and kind not in _LISTS:
        raise InvalidDefinition("values", list(rule.values), f"no values for kind {kind}")
    _check_event(rule)


def _check_event(rule: Rule) -> None:
    kind = rule.kind
    assert rule.event is not None  # resolved by __post_init__
    if kind in _ORDERS and rule.event is not Event.REDEMPTION:
        raise InvalidDefinition("event", rule.event.value, f"redemption for kind {kind}")
    if kind in _KEYLESS and rule.event is not Event.CLAIM:
        raise InvalidDefinition("event", rule.event.value, f"claim for kind {kind}")
    if rule.event is Event.REDEMPTION:
        allowed = ", ".join(sorted(REDEMPTION_KEYS))
        if rule.key not in REDEMPTION_KEYS:
            raise InvalidDefinition("key", rule.key.value, f"one of {allowed} on redemptions")
        if rule.distinct is not None and rule.distinct not in REDEMPTION_KEYS:
            raise InvalidDefinition(
                "distinct", rule.distinct.value, f"one of {allowed} on redemptions"
            )


def _check_action(rule: Rule) -> None:
    is_allow = rule.kind is RuleKind.ALLOWLIST
    if is_allow != (rule.action is RuleAction.ALLOW):
        expected = "allow" if is_allow else "one of reject, review, score"
        raise InvalidDefinition("action", rule.action.value, expected)
    if rule.action is RuleAction.SCORE:
        _number("points", rule.points, 0.0, strict=True)
    elif is_allow and rule.points:
        raise InvalidDefinition("points", rule.points, "no points for an allowlist rule")


# --- dicts (TOML tables) ------------------------------------------------------------------------

_DICT_KEYS = {f.name for f in fields(Rule)} - {"rule_id"} | {"id"}


def rule_from_dict(item: Mapping[str, Any], path: str) -> Rule:
    """One Rule from a dict; errors name ``path.key``."""
    if not isinstance(item, Mapping):
        raise InvalidDefinition(path, item, "a table")
    for key in item:
        if key not in _DICT_KEYS:
            allowed = ", ".join(sorted(_DICT_KEYS))
            raise InvalidDefinition(f"{path}.{key}", item[key], f"no such key (allowed: {allowed})")
    for key in ("id", "kind", "action"):
        if key not in item:
            raise InvalidDefinition(f"{path}.{key}", None, "a value (missing)")
    if "key" in item and item["kind"] in {kind.value for kind in _KEYLESS}:
        expected = f"absent for kind {item['kind']} (it has no key)"
        raise InvalidDefinition(f"{path}.key", item["key"], expected)
    arguments = {("rule_id" if key == "id" else key): value for key, value in item.items()}
    if "values" in arguments:
        values = arguments["values"]
        if not isinstance(values, list | tuple):
            raise InvalidDefinition(f"{path}.values", values, "a list of non-empty strings")
        arguments["values"] = tuple(values)
    try:
        return Rule(**arguments)
    except InvalidDefinition as error:
        raise InvalidDefinition(f"{path}.{error.field}", error.value, error.expected) from None


def rules_from_dicts(
    items: Sequence[Mapping[str, Any]], path: str = "risk.rules"
) -> tuple[Rule, ...]:
    """Rules from TOML-friendly dicts, strictly: an unknown key, a bad value or a duplicate id
    raises :class:`InvalidDefinition` naming the key path, e.g. ``risk.rules[3].threshold``."""
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidDefinition(path, items, "a list of rule tables")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        rule = rule_from_dict(item, f"{path}[{index}]")
        if rule.rule_id in seen:
            raise InvalidDefinition(f"{path}[{index}].id", rule.rule_id, "a rule id not yet used")
        seen.add(rule.rule_id)
        rules.append(rule)
    return tuple(rules)


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The TOML-friendly dict of a Rule: defaults left out, enums as strings."""
    out: dict[str, Any] = {"id": rule.rule_id}
    for f in fields(Rule):
        value = getattr(rule, f.name)
        if f.name == "key" and rule.kind not in _KEYLESS:
            out["key"] = _plain(value)
            continue
        if f.name == "rule_id" or (f.default is not MISSING and value == f.default):
            continue
        if f.name == "event" and value is default_event(rule.kind):
            continue
        out[f.name] = list(value) if isinstance(value, tuple) else _plain(value)
    return out


def _plain(value: object) -> object:
    return value.value if isinstance(value, StrEnum) else value
