"""Rules compiled for the hot path: grouped by the window state they share.

Rules that count the same events by the same key share one count state (its span is their
longest window); Rules counting the same distinct identifier by the same key share one distinct
state. Each group gets a *slot* on its key's :class:`~engine.risk.identity.Windowed` state
(``w0``, ``w1``, then ``wx[i]``), numbered per key space: a key kind, or a key kind per stock
for the groups of ``per_stock`` Rules (whose state lives in key tables keyed by
``(stock id, key)``, never on identity nodes). :mod:`engine.risk.codegen` turns an
:class:`EventPlan` into the function that decides one event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from engine.risk.rules import Event, KeyKind, Rule, RuleKind
from engine.risk.windows import Check, Firings, Group, cap_for

# Which events a count group takes (redemptions only for the order kinds).
ALL_EVENTS = 0
SMALL_ORDERS = 1  # order total <= amount_fen
HUGGING = 2  # threshold_fen <= order total <= threshold_fen + amount_fen

# Key kinds whose claim state lives on the identity graph; the others live in key tables.
IDENTITY_KINDS = frozenset(
    {KeyKind.CUSTOMER, KeyKind.PHONE, KeyKind.DEVICE, KeyKind.CARD, KeyKind.PERSON}
)


class CountSpec(NamedTuple):
    key: KeyKind
    slot: int
    group: Group
    mode: int  # ALL_EVENTS | SMALL_ORDERS | HUGGING
    amount_fen: int
    per_stock: bool = False  # keyed by (stock id, key)


class DistinctSpec(NamedTuple):
    key: KeyKind
    slot: int
    group: Group
    value: KeyKind  # the identifier counted distinct (never per stock: an identifier is one)
    per_stock: bool = False  # keyed by (stock id, key)


class ListCheck(NamedTuple):
    check: Check
    key: KeyKind
    table: dict[str, float]  # listed value -> until_s (exclusive)


class EventPlan(NamedTuple):
    """Everything the hot path does for one kind of event (claim or redemption)."""

    event: Event
    counts: tuple[CountSpec, ...]
    distincts: tuple[DistinctSpec, ...]
    lists: tuple[ListCheck, ...]  # allowlists first: an allow decides before blocks
    ages: tuple[Check, ...]
    latencies: tuple[Check, ...]
    spans: dict[KeyKind, float]  # each key kind the groups use (key or value): longest window
    stock_spans: dict[KeyKind, float]  # each key kind used per stock: its longest window

    def specs(self) -> list[CountSpec | DistinctSpec]:
        """Every group, counts then distinct counts."""
        return [*self.counts, *self.distincts]

    def slots(self, key: KeyKind, per_stock: bool = False) -> int:
        """How many window slots the groups keyed by ``key`` (per stock or not) use."""
        return sum(spec.key is key and spec.per_stock is per_stock for spec in self.specs())

    def keyed(self) -> list[tuple[KeyKind, float]]:
        """(key kind, span) of every group keyed across stocks (per-stock groups live in key
        tables, whatever their kind)."""
        return [(spec.key, spec.group.span_s) for spec in self.specs() if not spec.per_stock]

    def kinds(self) -> set[KeyKind]:
        """Every key kind the groups (per stock or not) or lists read."""
        used = set(self.spans) | set(self.stock_spans)
        used.update(item.key for item in self.lists)
        return used


def check_of(rule: Rule, span_s: float = 0.0) -> Check:
    return Check(
        rule.rule_id,
        rule.shadow,
        rule.action.value,
        float(rule.points),
        float(rule.threshold),
        float(rule.window_s),
        rule.window_s == span_s,
        f" > {rule.threshold:g}",
    )


def group_of(members: Sequence[Rule]) -> Group:
    span_s = max(float(rule.window_s) for rule in members)
    checks = tuple(check_of(rule, span_s) for rule in members)
    low = min(check.threshold for check in checks)
    cap = cap_for(max(check.threshold for check in checks))
    return Group(checks, low, span_s, cap, tuple(Firings(check) for check in checks))


def _count_mode(rule: Rule) -> tuple[int, int]:
    if rule.kind is RuleKind.SMALL_ORDERS:
        return SMALL_ORDERS, rule.amount_fen
    if rule.kind is RuleKind.THRESHOLD_HUGGING:
        return HUGGING, rule.amount_fen
    return ALL_EVENTS, 0


_COUNTED = (RuleKind.COUNT, RuleKind.SMALL_ORDERS, RuleKind.THRESHOLD_HUGGING)


Slots = dict[tuple[KeyKind, bool], int]  # (key kind, per stock) -> the last slot given


def _counts(rules: Sequence[Rule], slots: Slots) -> tuple[CountSpec, ...]:
    grouped: dict[tuple[KeyKind, bool, int, int], list[Rule]] = {}
    for rule in rules:
        if rule.kind in _COUNTED:
            grouped.setdefault((rule.key, rule.per_stock, *_count_mode(rule)), []).append(rule)
    specs = []
    for (key, per_stock, mode, amount_fen), members in grouped.items():
        slot = slots[(key, per_stock)] = slots.get((key, per_stock), -1) + 1
        specs.append(CountSpec(key, slot, group_of(members), mode, amount_fen, per_stock))
    return tuple(specs)


def _distincts(rules: Sequence[Rule], slots: Slots) -> tuple[DistinctSpec, ...]:
    grouped: dict[tuple[KeyKind, bool, KeyKind], list[Rule]] = {}
    for rule in rules:
        if rule.kind is RuleKind.DISTINCT:
            assert rule.distinct is not None
            grouped.setdefault((rule.key, rule.per_stock, rule.distinct), []).append(rule)
    specs = []
    for (key, per_stock, value), members in grouped.items():
        slot = slots[(key, per_stock)] = slots.get((key, per_stock), -1) + 1
        specs.append(DistinctSpec(key, slot, group_of(members), value, per_stock))
    return tuple(specs)


def _list_checks(
    rules: Sequence[Rule], tables: dict[tuple[RuleKind, KeyKind], dict[str, float]]
) -> tuple[ListCheck, ...]:
    checks = []
    for kind in (RuleKind.ALLOWLIST, RuleKind.BLOCKLIST):
        for rule in rules:
            if rule.kind is kind:
                table = tables.setdefault((kind, rule.key), {})
                table.update(dict.fromkeys(rule.values, float("inf")))
                checks.append(ListCheck(check_of(rule), rule.key, table))
    return tuple(checks)


def _spans(
    counts: Sequence[CountSpec], distincts: Sequence[DistinctSpec], per_stock: bool
) -> dict[KeyKind, float]:
    """The longest window of each key kind used across stocks (a distinct group's value
    included: its state must outlive the group's window, identifiers are compared by object) —
    or, with ``per_stock``, of each key kind used per stock."""
    used = [(c.key, c.group.span_s) for c in counts if c.per_stock is per_stock]
    used += [(d.key, d.group.span_s) for d in distincts if d.per_stock is per_stock]
    if not per_stock:
        used += [(d.value, d.group.span_s) for d in distincts]
    spans: dict[KeyKind, float] = {}
    for key, span_s in used:
        spans[key] = max(spans.get(key, 0.0), span_s)
    return spans


def compile_event(
    rules: Sequence[Rule],
    event: Event,
    tables: dict[tuple[RuleKind, KeyKind], dict[str, float]],
) -> EventPlan:
    """The plan of the Rules watching ``event``; list tables are shared through ``tables``."""
    mine = [rule for rule in rules if rule.event is event]
    slots: Slots = {}
    counts = _counts(mine, slots)
    distincts = _distincts(mine, slots)
    lists = _list_checks(mine, tables)
    ages = tuple(check_of(r) for r in mine if r.kind is RuleKind.ACCOUNT_AGE)
    latencies = tuple(check_of(r) for r in mine if r.kind is RuleKind.CLAIM_LATENCY)
    spans = _spans(counts, distincts, per_stock=False)
    stock_spans = _spans(counts, distincts, per_stock=True)
    return EventPlan(event, counts, distincts, lists, ages, latencies, spans, stock_spans)
