"""Risk Rules against ground truth: confusion matrix, precision, recall, legit blocked, money saved.

The simulation knows who is a wool-puller; :func:`evaluate` scores the logged Decisions with it.

Per Rule, over the labelled events the Rule watches (claims or redemptions):

* a *flag* is the Rule firing (shadow Rules too: that is how they are tried before rollout;
  allowlist firings are never flags);
* ``tp``/``fp`` = abusive/legitimate events flagged, ``fn``/``tn`` = not flagged;
* ``precision = tp / flags``, ``recall = tp / abusive events``,
  ``legit_blocked_share = fp / legitimate events`` — what the Rule would block if enforced;
* ``money_saved_fen`` = the value at stake of the abusive events it flagged.

Overall, a flag is a request the coupon engine actually refused: a ``reject``, or a ``review``
that the stock's review policy refused (policy ``reject``, a failed challenge); a review let
through flagged (``pass_and_flag``, a passed challenge) is not blocked, so it is no flag and
saves no money. The engine records that in each Decision (``DecisionRecord.blocked``, see
:meth:`engine.risk.RiskEngine.enforced`); a record without it counts a review as refused (policy
``reject``). Same measures, plus ``rejected``/``reviewed`` counts (Decisions) and
``review_passed`` (reviews let through). Undefined ratios (nothing flagged, no abusive or no
legitimate event) are ``None``. Events without a label are counted as ``unlabelled`` and
otherwise ignored.
The design's bar for enforcing a Rule: precision over 30% and legit blocked under 0.5%.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from engine.risk.decide import ALLOW, DecisionRecord
from engine.risk.rules import Rule
from engine.risk_gate import Action


class Confusion(NamedTuple):
    """A confusion matrix with the value at stake of its true positives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    money_saved_fen: int = 0

    @property
    def flags(self) -> int:
        return self.tp + self.fp

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def legit_blocked_share(self) -> float | None:
        return _ratio(self.fp, self.fp + self.tn)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": self.precision,
            "recall": self.recall,
            "legit_blocked_share": self.legit_blocked_share,
            "money_saved_fen": self.money_saved_fen,
            "flags": self.flags,
        }


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class RiskEvaluation:
    """Per Rule (``rules[rule_id]``, with its ``shadow`` flag) and overall results."""

    rules: Mapping[str, Confusion]
    shadow: Mapping[str, bool]
    overall: Confusion
    rejected: int
    reviewed: int
    review_passed: int
    unlabelled: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``{"rules": {rule_id: {...}}, "overall": {...}}`` (docs/risk.md)."""
        rules = {
            rule_id: {**confusion.to_dict(), "shadow": self.shadow[rule_id]}
            for rule_id, confusion in self.rules.items()
        }
        overall = self.overall.to_dict()
        overall.update(
            rejected=self.rejected,
            reviewed=self.reviewed,
            review_passed=self.review_passed,
            unlabelled=self.unlabelled,
        )
        return {"rules": rules, "overall": overall}


class _Tally:
    """Labelled events and their value, split by abusive/legitimate."""

    __slots__ = ("abusive", "fp", "legit", "saved_fen", "tp")

    def __init__(self) -> None:
        self.abusive = self.legit = self.tp = self.fp = self.saved_fen = 0

    def add(self, is_abusive: bool, flagged: bool, value_fen: int) -> None:
        if is_abusive:
            self.abusive += 1
            if flagged:
                self.tp += 1
                self.saved_fen += value_fen
        else:
            self.legit += 1
            self.fp += flagged

    def confusion(self, abusive: int, legit: int) -> Confusion:
        """The matrix when the population is ``abusive``/``legit`` events (flags are ours)."""
        return Confusion(self.tp, self.fp, abusive - self.tp, legit - self.fp, self.saved_fen)


def evaluate(
    records: Iterable[DecisionRecord],
    abusive: Mapping[str, bool],
    value_fen: Mapping[str, int] | None = None,
    *,
    rules: Sequence[Rule] | None = None,
) -> RiskEvaluation:
    """Score the Decisions against ``abusive[request_id]`` (True = wool-puller).

    ``value_fen[request_id]`` overrides the value logged with a Decision (claims log 0). Pass
    ``rules`` to list every Rule, including those that never fired.
    """
    scoring = _Scoring(value_fen or {})
    for rule in rules or ():
        scoring.rule(rule.rule_id, str(rule.event), rule.shadow)
    for record in records:
        label = abusive.get(record.request_id)
        if label is None:
            scoring.counts["unlabelled"] += 1
        else:
            scoring.add(record, label)
    return scoring.result()


class _Scoring:
    """The tallies of :func:`evaluate`: per stream, per Rule and overall."""

    def __init__(self, values: Mapping[str, int]) -> None:
        self.values = values
        self.population = {"claim": _Tally(), "redemption": _Tally()}
        self.per_rule: dict[str, _Tally] = {}
        self.kind_of: dict[str, str] = {}
        self.shadow: dict[str, bool] = {}
        self.overall = _Tally()
        self.counts = {"rejected": 0, "reviewed": 0, "review_passed": 0, "unlabelled": 0}

    def rule(self, rule_id: str, kind: str, shadow: bool) -> _Tally:
        """The tally of ``rule_id`` (created on first sight, watching the ``kind`` stream)."""
        tally = self.per_rule.get(rule_id)
        if tally is None:
            tally = self.per_rule[rule_id] = _Tally()
            self.kind_of[rule_id] = kind
            self.shadow[rule_id] = shadow
        return tally

    def add(self, record: DecisionRecord, label: bool) -> None:
        value = self.values.get(record.request_id, record.value_fen)
        self.population[record.kind].add(label, False, value)
        refused = record.refused  # what the engine enforced, under the stock's review policy
        self.overall.add(label, refused, value)
        self.counts["rejected"] += record.action is Action.REJECT
        self.counts["reviewed"] += record.action is Action.REVIEW
        self.counts["review_passed"] += record.action is Action.REVIEW and not refused
        for firing in record.fired:
            if firing.action != ALLOW:  # an allowlist hit is not a flag
                self.rule(firing.rule_id, record.kind, firing.shadow).add(label, True, value)

    def result(self) -> RiskEvaluation:
        rules = {}
        for rule_id, tally in self.per_rule.items():
            population = self.population[self.kind_of[rule_id]]
            rules[rule_id] = tally.confusion(population.abusive, population.legit)
        overall = self.overall.confusion(self.overall.abusive, self.overall.legit)
        return RiskEvaluation(rules, self.shadow, overall, **self.counts)
