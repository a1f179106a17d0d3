"""RiskEngine: the risk gate and identity resolver that the coupon engine calls.

``RiskEngine(rules, seed=s)`` keeps the state the Rules need (sliding windows, block and allow
lists, the identity graph) in memory and decides each claim and redemption it is asked about.
Every assessed event is recorded in the windows whatever the Decision, so a ring that keeps
retrying keeps counting. Decisions are deterministic for a given sequence of calls: no clock, no
random draw (the seed is kept for the record). Not thread-safe: a threaded caller serialises the
calls (engine.http.risk does).

The claim and redemption paths are generated from the Rules at construction
(:mod:`engine.risk.codegen`); :meth:`RiskEngine.source` shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MethodType
from typing import Protocol

from engine.coupon import Coupon
from engine.errors import InvalidDefinition
from engine.requests import ClaimRequest, RedemptionRequest
from engine.risk.codegen import Generated
from engine.risk.decide import REJECT_SCORE, REVIEW_SCORE, DecisionRecord
from engine.risk.identity import Identity
from engine.risk.keygen import subnet_of
from engine.risk.plan import IDENTITY_KINDS, EventPlan, compile_event
from engine.risk.rules import Event, KeyKind, Rule, RuleKind
from engine.risk.windows import KeyTable, Sweep
from engine.risk_gate import Action, RiskVerdict

__all__ = ["AssessClaim", "AssessRedemption", "PersonOf", "RiskEngine", "subnet_of"]


class PersonOf(Protocol):
    def __call__(self, request: ClaimRequest) -> str:
        """The natural person behind the request (links its identifiers, see identity.py)."""
        ...


class AssessClaim(Protocol):
    def __call__(
        self, request: ClaimRequest, person_id: str, opened_s: float, now_s: float
    ) -> RiskVerdict:
        """Decide a claim; records it in every window of the claim Rules. A request not yet
        seen by ``person_of`` is linked into the identity graph first."""
        ...


class AssessRedemption(Protocol):
    def __call__(
        self, request: RedemptionRequest, coupon: Coupon, threshold_fen: int, now_s: float
    ) -> RiskVerdict:
        """Decide a redemption: counts, small repeated orders, orders hugging ``threshold_fen``."""
        ...


class RiskEngine:
    """The risk gate and identity resolver (:mod:`engine.risk_gate` protocols).

    ``person_of(request)``, ``assess_claim(request, person_id, opened_s, now_s)`` and
    ``assess_redemption(request, coupon, threshold_fen, now_s)`` are the protocols' calls
    (:class:`PersonOf`, :class:`AssessClaim`, :class:`AssessRedemption`). ``records`` logs
    every Decision (with shadow firings) when ``keep_log``; a score of ``review_score`` or more
    sends a request to review, ``reject_score`` or more rejects it.
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        seed: int = 0,
        keep_log: bool = True,
        review_score: float = REVIEW_SCORE,
        reject_score: float = REJECT_SCORE,
    ) -> None:
        _check_rules(rules, review_score, reject_score)
        self.rules = tuple(rules)
        self.seed = seed
        self.keep_log = keep_log
        self.review_score = float(review_score)
        self.reject_score = float(reject_score)
        self.records: list[DecisionRecord] = []
        self.identity = Identity()
        self._tables: dict[tuple[RuleKind, KeyKind], dict[str, float]] = {}
        self._compile()
        # The protocols' three calls go straight to their implementations (no wrapper frame:
        # a decision costs a few microseconds, a Python call ~0.05).
        self.person_of: PersonOf = self.identity.person_of
        self.assess_claim: AssessClaim = MethodType(self._claim.function, self)
        self.assess_redemption: AssessRedemption = MethodType(self._redemption.function, self)

    def _compile(self) -> None:
        """Generate the claim and redemption paths; collect the windows they keep."""
        claim = compile_event(self.rules, Event.CLAIM, self._tables)
        redemption = compile_event(self.rules, Event.REDEMPTION, self._tables)
        self._sweep = _sweep_of(claim)
        self._claim = Generated(claim, self.identity, self._sweep)
        self._redemption = Generated(redemption, self.identity, None)
        self._windows: list[KeyTable | Sweep] = [
            *self._claim.tables.values(),
            *self._claim.stock_tables.values(),
            *self._redemption.tables.values(),
            *self._redemption.stock_tables.values(),
            *([] if self._sweep is None else [self._sweep]),
        ]
        self._clock_s = -float("inf")  # the latest time seen: windows never go back
        self._rotate_at_s = -float("inf")  # the next time a window generation ends

    def source(self, event: str) -> str:
        """The generated Python source deciding ``event`` ("claim" or "redemption")."""
        return (self._claim if Event(event) is Event.CLAIM else self._redemption).source

    def enforced(self, verdict: RiskVerdict, passed: bool) -> None:
        """What the coupon engine made of a review ``verdict`` this engine returned, under the
        stock's review policy (:class:`engine.risk_gate.ReviewLog`): kept as ``blocked`` in the
        record the verdict names (``verdict.record``, its index in :attr:`records`; for
        :func:`engine.risk.evaluate`), however many Decisions were logged since — with threads
        (a locked gate) others may be. A verdict naming no record of a review is ignored."""
        index, records = verdict.record, self.records
        if 0 <= index < len(records) and records[index].action is Action.REVIEW:
            records[index] = records[index]._replace(blocked=not passed)

    def window_keys(self) -> int:
        """Keys holding window state (expired keys leave within two spans)."""
        return sum(len(window) for window in self._windows)

    def _rotate(self, clock_s: float) -> None:
        """End the window generations due at ``clock_s`` (called by the generated code)."""
        for window in self._windows:
            if clock_s >= window.rotate_at_s:
                window.rotate(clock_s)
        self._rotate_at_s = min((w.rotate_at_s for w in self._windows), default=float("inf"))

    # --- lists ------------------------------------------------------------------------------

    def block(self, key_kind: str, value: str, until_s: float = float("inf")) -> None:
        """Put ``value`` on the block list of ``key_kind`` until ``until_s`` (exclusive)."""
        self._table(RuleKind.BLOCKLIST, key_kind, value, until_s)[value] = float(until_s)

    def allow(self, key_kind: str, value: str, until_s: float = float("inf")) -> None:
        """Put ``value`` on the allow list of ``key_kind`` until ``until_s`` (exclusive)."""
        self._table(RuleKind.ALLOWLIST, key_kind, value, until_s)[value] = float(until_s)

    def unlist(self, key_kind: str, value: str) -> None:
        """Take ``value`` off both lists of ``key_kind`` (no error when it is on neither)."""
        for (_, kind), table in self._tables.items():
            if kind == key_kind:
                table.pop(value, None)

    def _table(
        self, list_kind: RuleKind, key_kind: str, value: str, until_s: float
    ) -> dict[str, float]:
        if not isinstance(value, str) or not value:
            raise InvalidDefinition("value", value, "a non-empty identifier")
        if not isinstance(until_s, int | float) or isinstance(until_s, bool):
            raise InvalidDefinition("until_s", until_s, "a time in seconds")
        try:
            return self._tables[(list_kind, KeyKind(key_kind))]
        except (KeyError, ValueError):
            kinds = sorted(k.value for (kind, k) in self._tables if kind is list_kind)
            expected = f"a key kind with a {list_kind} rule ({', '.join(kinds) or 'none'})"
            raise InvalidDefinition("key_kind", key_kind, expected) from None


def _check_rules(rules: Sequence[Rule], review_score: float, reject_score: float) -> None:
    if not 0 < review_score <= reject_score:
        raise InvalidDefinition("review_score", review_score, "0 < review_score <= reject")
    ids: set[str] = set()
    for index, rule in enumerate(rules):
        if not isinstance(rule, Rule):
            raise InvalidDefinition(f"rules[{index}]", rule, "an engine.risk.Rule")
        if rule.rule_id in ids:
            raise InvalidDefinition(f"rules[{index}].id", rule.rule_id, "a unique rule id")
        ids.add(rule.rule_id)


def _sweep_of(plan: EventPlan) -> Sweep | None:
    """The expiry of the claim state kept on identity nodes, across stocks and per stock
    (None when there is none): its span is the longest of theirs."""
    spans = [span_s for key, span_s in plan.keyed() if key in IDENTITY_KINDS]
    spans += [span_s for key, span_s in plan.stock_spans.items() if key in IDENTITY_KINDS]
    return Sweep(max(spans)) if spans else None
