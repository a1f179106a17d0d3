"""The risk Decision: Rule firings in, pass / review / reject with a score and reasons out.

Pure: :func:`decide` looks only at the firings. Order of precedence:

1. an enforced allowlist firing passes the request, whatever else fired (score 0);
2. an enforced ``reject`` firing, or a score >= ``reject_score``, rejects;
3. an enforced ``review`` firing, or a score >= ``review_score``, sends it to review;
4. otherwise it passes.

The score is the sum of the ``points`` of the enforced firings. Shadow firings change nothing:
they are kept in the :class:`DecisionRecord` (for evaluation) and left out of the verdict's
reasons, which the coupon engine stores with the claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from engine.risk_gate import PASS, Action, RiskVerdict

REVIEW_SCORE = 50.0
REJECT_SCORE = 100.0

# Rule actions as plain strings on the hot path (a Firing is built only when a Rule fires).
REJECT = "reject"
REVIEW = "review"
SCORE = "score"
ALLOW = "allow"


class Firing(NamedTuple):
    """One Rule that fired on one event: ``detail`` carries the values, e.g. ``ip_5m: 6 > 5``."""

    rule_id: str
    shadow: bool
    action: str  # reject | review | score | allow
    detail: str
    points: float = 0.0


class DecisionRecord(NamedTuple):
    """The log line of one Decision, for evaluation against ground truth.

    ``value_fen`` is the money at stake when known: the coupon's value for a redemption; 0 for a
    claim (the value is drawn after risk; :func:`engine.risk.evaluate` takes it from the caller).
    ``blocked`` is what the coupon engine enforced for a ``review``, under the stock's review
    policy (:meth:`RiskEngine.enforced`): True refused (policy ``reject``, a failed challenge),
    False let through flagged (``pass_and_flag``, a passed challenge). None when no engine said
    so: a reject blocks, a pass does not, a review counts as blocked (policy ``reject``).
    """

    request_id: str
    kind: str  # claim | redemption
    action: Action
    score: float
    fired: tuple[Firing, ...]
    value_fen: int = 0
    blocked: bool | None = None

    @property
    def refused(self) -> bool:
        """Whether the request was refused: :attr:`blocked`, or what the action implies."""
        return self.action is not _PASS if self.blocked is None else self.blocked


# Bound once: an enum member's attribute look-up costs ~60 ns on CPython 3.11.
_PASS, _REVIEW, _REJECT = Action.PASS, Action.REVIEW, Action.REJECT
_new = tuple.__new__  # a NamedTuple's own __new__ is a Python function (the hot path)


def decide(
    fired: Sequence[Firing],
    review_score: float = REVIEW_SCORE,
    reject_score: float = REJECT_SCORE,
) -> RiskVerdict:
    """The verdict for these firings (see the module docstring for the precedence)."""
    reasons: Sequence[str]
    actions: Sequence[str]
    if len(fired) == 1:  # the common case, without building lists
        _, shadow, action, detail, points = fired[0]
        if shadow:
            return PASS
        reasons, actions, score = (detail,), (action,), 0.0 + points
    else:
        reasons, actions, score = [], [], 0.0
        for _, shadow, action, detail, points in fired:
            if not shadow:
                reasons.append(detail)
                actions.append(action)
                score += points
        if not reasons:
            return PASS
    if ALLOW in actions:
        return _new(RiskVerdict, (_PASS, 0.0, tuple(reasons), -1))
    if REJECT in actions or score >= reject_score:
        verdict = _REJECT
    elif REVIEW in actions or score >= review_score:
        verdict = _REVIEW
    else:
        verdict = _PASS
    return _new(RiskVerdict, (verdict, score, tuple(reasons), -1))


def above(rule_id: str, value: float, threshold: float) -> str:
    """The reason of a Rule that fires above its threshold: ``ip_5m: 6 > 5``."""
    return f"{rule_id}: {value:g} > {threshold:g}"


def below(rule_id: str, value: float, threshold: float, unit: str = "s") -> str:
    """The reason of a Rule that fires below its threshold: ``fast_claim: 0.3 s < 1 s``."""
    return f"{rule_id}: {value:.3g} {unit} < {threshold:g} {unit}"


def listed(rule_id: str, key: str, value: str, until_s: float) -> str:
    """The reason of a list Rule: ``blocklist_ip: ip 10.0.0.1 listed until 1700000000``."""
    until = "forever" if until_s == float("inf") else f"until {until_s:.0f}"
    return f"{rule_id}: {key} {value} listed {until}"
