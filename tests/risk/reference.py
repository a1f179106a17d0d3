"""A naive model of the risk engine's semantics, for differential tests of the fast one.

Nothing here is fast or bounded: every event is kept, every window is counted by filtering all of
them, natural persons are sets merged by brute force. It follows docs/risk.md literally:

* an event at ``t`` is in a window of ``w`` at ``now`` while ``now - w < t``, the current event
  included; windows see the latest time seen (a clock going back does not move them back);
* count Rules fire when the count > threshold, distinct Rules when the distinct identifiers > it;
  a ``per_stock`` Rule counts only the events of the current event's stock;
* small orders: total <= amount; hugging: 0 < threshold <= total <= threshold + amount;
* lists hold while ``now < until``; account age and claim latency fire below their threshold;
* the Decision is :func:`engine.risk.decide` of the firings.

Counts are exact here; the fast engine caps them at ``max(64, 2 * threshold + 2)``, so the
differential tests keep fewer events than that per key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.requests import ClaimRequest, RedemptionRequest
from engine.risk import Event, Firing, KeyKind, Rule, RuleKind, decide
from engine.risk.decide import above, below, listed
from engine.risk.engine import subnet_of
from engine.risk_gate import RiskVerdict


@dataclass
class Happened:
    event: Event
    keys: dict[KeyKind, str]
    time_s: float
    stock_id: str
    total_fen: int = 0
    threshold_fen: int = 0


@dataclass
class Reference:
    rules: Sequence[Rule]
    review_score: float = 50.0
    reject_score: float = 100.0
    history: list[Happened] = field(default_factory=list)
    lists: dict[tuple[RuleKind, KeyKind], dict[str, float]] = field(default_factory=dict)
    persons: list[tuple[set[tuple[str, str]], list[str]]] = field(default_factory=list)
    first_seen: list[str] = field(default_factory=list)  # customers, in order of appearance
    clock_s: float = -float("inf")

    def __post_init__(self) -> None:
        for rule in self.rules:
            if rule.kind in (RuleKind.BLOCKLIST, RuleKind.ALLOWLIST):
                table = self.lists.setdefault((rule.kind, rule.key), {})
                table.update(dict.fromkeys(rule.values, float("inf")))

    # --- identity ---------------------------------------------------------------------------

    def person_of(self, request: ClaimRequest) -> str:
        """Merge every component sharing an identifier with the request; its oldest customer."""
        ids = {("customer", request.customer_id)}
        for kind in ("phone", "device_id", "card", "id_hash"):
            if getattr(request, kind):
                ids.add((kind, getattr(request, kind)))
        touching = [p for p in self.persons if p[0] & ids]
        merged: tuple[set[tuple[str, str]], list[str]] = (set(ids), [])
        for person in touching:
            self.persons.remove(person)
            merged[0].update(person[0])
            merged[1].extend(person[1])
        merged[1].append(request.customer_id)
        self.persons.append(merged)
        if request.customer_id not in self.first_seen:
            self.first_seen.append(request.customer_id)
        return min(merged[1], key=self.first_seen.index)

    def person_of_customer(self, customer_id: str) -> str:
        for ids, customers in self.persons:
            if ("customer", customer_id) in ids:
                return min(customers, key=self.first_seen.index)
        return customer_id

    # --- lists ------------------------------------------------------------------------------

    def block(self, key_kind: str, value: str, until_s: float) -> None:
        self.lists[(RuleKind.BLOCKLIST, KeyKind(key_kind))][value] = until_s

    def allow(self, key_kind: str, value: str, until_s: float) -> None:
        self.lists[(RuleKind.ALLOWLIST, KeyKind(key_kind))][value] = until_s

    # --- decisions --------------------------------------------------------------------------

    def claim(
        self, request: ClaimRequest, person_id: str, opened_s: float, now_s: float
    ) -> tuple[RiskVerdict, list[Firing]]:
        keys = {
            KeyKind.IP: request.ip,
            KeyKind.IP24: subnet_of(request.ip),
            KeyKind.DEVICE: request.device_id,
            KeyKind.PHONE: request.phone,
            KeyKind.CARD: request.card,
            KeyKind.CUSTOMER: request.customer_id,
            KeyKind.PERSON: person_id,
        }
        happened = Happened(Event.CLAIM, keys, self._tick(now_s), request.stock_id)
        extra = {"age_s": None, "latency_s": now_s - opened_s}
        if request.account_created_s is not None:
            extra["age_s"] = now_s - request.account_created_s
        return self._decide(happened, now_s, extra)

    def redemption(
        self, request: RedemptionRequest, threshold_fen: int, now_s: float, stock_id: str = "s"
    ) -> tuple[RiskVerdict, list[Firing]]:
        keys = {
            KeyKind.IP: request.ip,
            KeyKind.IP24: subnet_of(request.ip),
            KeyKind.DEVICE: request.device_id,
            KeyKind.CUSTOMER: request.customer_id,
            KeyKind.PERSON: self.person_of_customer(request.customer_id),
        }
        happened = Happened(
            Event.REDEMPTION, keys, self._tick(now_s), stock_id, request.total_fen, threshold_fen
        )
        return self._decide(happened, now_s, {})

    def _tick(self, now_s: float) -> float:
        self.clock_s = max(self.clock_s, now_s)
        return self.clock_s

    def _decide(
        self, happened: Happened, now_s: float, extra: dict[str, Any]
    ) -> tuple[RiskVerdict, list[Firing]]:
        self.history.append(happened)
        fired = []
        for rule in self.rules:
            if rule.event is happened.event:
                detail = self._detail(rule, happened, now_s, extra)
                if detail is not None:
                    action = rule.action.value
                    fired.append(Firing(rule.rule_id, rule.shadow, action, detail, rule.points))
        return decide(fired, self.review_score, self.reject_score), fired

    def _detail(
        self, rule: Rule, happened: Happened, now_s: float, extra: dict[str, Any]
    ) -> str | None:
        kind = rule.kind
        if kind in (RuleKind.COUNT, RuleKind.SMALL_ORDERS, RuleKind.THRESHOLD_HUGGING):
            return self._count(rule, happened)
        if kind is RuleKind.DISTINCT:
            return self._distinct(rule, happened)
        if kind in (RuleKind.BLOCKLIST, RuleKind.ALLOWLIST):
            value = happened.keys.get(rule.key, "")
            until_s = self.lists[(kind, rule.key)].get(value) if value else None
            if until_s is not None and now_s < until_s:
                return listed(rule.rule_id, rule.key.value, value, until_s)
            return None
        value_s = extra["age_s"] if kind is RuleKind.ACCOUNT_AGE else extra["latency_s"]
        if value_s is not None and value_s < rule.threshold:
            return below(rule.rule_id, value_s, rule.threshold)
        return None

    def _window(self, rule: Rule, happened: Happened) -> list[Happened]:
        """The events of the Rule's stream, with the same key (and stock, per stock), inside
        its window now."""
        key = happened.keys.get(rule.key, "")
        if not key:
            return []
        since_s = happened.time_s - rule.window_s
        return [
            h
            for h in self.history
            if h.event is happened.event
            and h.keys.get(rule.key) == key
            and h.time_s > since_s
            and (not rule.per_stock or h.stock_id == happened.stock_id)
        ]

    def _count(self, rule: Rule, happened: Happened) -> str | None:
        if not _counted(rule, happened):
            return None
        count = sum(1 for h in self._window(rule, happened) if _counted(rule, h))
        return above(rule.rule_id, count, rule.threshold) if count > rule.threshold else None

    def _distinct(self, rule: Rule, happened: Happened) -> str | None:
        assert rule.distinct is not None
        if not happened.keys.get(rule.distinct):
            return None
        values = {h.keys.get(rule.distinct) for h in self._window(rule, happened)} - {"", None}
        count = len(values)
        return above(rule.rule_id, count, rule.threshold) if count > rule.threshold else None


def _counted(rule: Rule, happened: Happened) -> bool:
    if rule.kind is RuleKind.SMALL_ORDERS:
        return happened.total_fen <= rule.amount_fen
    if rule.kind is RuleKind.THRESHOLD_HUGGING:
        threshold_fen = happened.threshold_fen
        return 0 < threshold_fen <= happened.total_fen <= threshold_fen + rule.amount_fen
    return True
