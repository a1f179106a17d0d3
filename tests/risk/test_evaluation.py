"""Evaluation against ground truth, on a small example checked by hand."""

from __future__ import annotations

import json

import pytest
from risk_helpers import assess, claim, rule

from engine.risk import DecisionRecord, Firing, RiskEngine, evaluate
from engine.risk_gate import Action

A = Firing("A", False, "reject", "A: 3 > 2")
B = Firing("B", True, "review", "B: 9 > 5")  # shadow
C = Firing("C", False, "review", "C: 2 > 1")
ALLOWED = Firing("vip", False, "allow", "vip: customer c listed forever")
R, V, P = Action.REJECT, Action.REVIEW, Action.PASS
RECORDS = [
    DecisionRecord("r1", "claim", R, 0.0, (A,)),
    DecisionRecord("r2", "claim", R, 0.0, (A, B)),
    DecisionRecord("r3", "claim", P, 0.0, (B, ALLOWED)),
    DecisionRecord("r4", "claim", P, 0.0, ()),
    DecisionRecord("r5", "claim", P, 0.0, ()),
    DecisionRecord("r6", "redemption", V, 0.0, (C,), 3000),
    DecisionRecord("r7", "redemption", V, 0.0, (C,), 5000),
    DecisionRecord("r8", "claim", R, 0.0, (A,)),  # no label
]
ABUSIVE = {"r1": True, "r2": True, "r3": False, "r4": False, "r5": True, "r6": True, "r7": False}
VALUES = {"r1": 5000, "r2": 5000, "r5": 5000}


def test_per_rule_confusion_precision_recall_blocked_and_money() -> None:
    never = rule(id="D", kind="count", key="ip", window_s=60, action="reject")
    result = evaluate(RECORDS, ABUSIVE, VALUES, rules=[never]).to_dict()
    rules = result["rules"]
    assert rules["A"] == {
        "tp": 2, "fp": 0, "fn": 1, "tn": 2, "precision": 1.0, "recall": pytest.approx(2 / 3),
        "legit_blocked_share": 0.0, "money_saved_fen": 10000, "flags": 2, "shadow": False,
    }  # fmt: skip
    assert rules["B"] == {
        "tp": 1, "fp": 1, "fn": 2, "tn": 1, "precision": 0.5, "recall": pytest.approx(1 / 3),
        "legit_blocked_share": 0.5, "money_saved_fen": 5000, "flags": 2, "shadow": True,
    }  # fmt: skip
    assert rules["C"] == {
        "tp": 1, "fp": 1, "fn": 0, "tn": 0, "precision": 0.5, "recall": 1.0,
        "legit_blocked_share": 1.0, "money_saved_fen": 3000, "flags": 2, "shadow": False,
    }  # fmt: skip
    assert rules["D"] == {
        "tp": 0, "fp": 0, "fn": 3, "tn": 2, "precision": None, "recall": 0.0,
        "legit_blocked_share": 0.0, "money_saved_fen": 0, "flags": 0, "shadow": False,
    }  # fmt: skip
    assert "vip" not in rules  # an allowlist firing is not a flag


def test_overall_counts_decisions_other_than_pass() -> None:
    overall = evaluate(RECORDS, ABUSIVE, VALUES).to_dict()["overall"]
    assert overall == {
        "tp": 3, "fp": 1, "fn": 1, "tn": 2, "precision": 0.75, "recall": 0.75,
        "legit_blocked_share": pytest.approx(1 / 3), "money_saved_fen": 13000, "flags": 4,
        "rejected": 2, "reviewed": 2, "review_passed": 0, "unlabelled": 1,
    }  # fmt: skip


def test_overall_counts_only_the_reviews_the_policy_refused() -> None:
    """Reviews let through flagged (pass_and_flag, a passed challenge) are not blocked: they are
    no flag overall and save no money; the per-Rule figures (what a Rule flags) do not change."""
    let_through = [r._replace(blocked=False) if r.action is V else r for r in RECORDS]
    result = evaluate(let_through, ABUSIVE, VALUES).to_dict()
    assert result["overall"] == {
        "tp": 2, "fp": 0, "fn": 2, "tn": 3, "precision": 1.0, "recall": 0.5,
        "legit_blocked_share": 0.0, "money_saved_fen": 10000, "flags": 2,
        "rejected": 2, "reviewed": 2, "review_passed": 2, "unlabelled": 1,
    }  # fmt: skip
    assert result["rules"] == evaluate(RECORDS, ABUSIVE, VALUES).to_dict()["rules"]
    refused = [r._replace(blocked=True) if r.action is V else r for r in RECORDS]
    assert evaluate(refused, ABUSIVE, VALUES) == evaluate(RECORDS, ABUSIVE, VALUES)


def test_the_result_is_json_and_undefined_ratios_are_null() -> None:
    result = evaluate([], {}).to_dict()
    assert json.loads(json.dumps(result)) == result
    assert result["overall"]["precision"] is None and result["overall"]["recall"] is None


def test_evaluating_a_real_engine_log() -> None:
    risk = RiskEngine(
        [rule(id="ip", kind="count", key="ip", window_s=60, threshold=1, action="reject")]
    )
    labels = {}
    for i in range(4):
        request = claim(f"bot{i}", ip="10.0.0.1")
        labels[request.request_id] = True
        assess(risk, request, float(i))
    request = claim("human", ip="10.0.0.2")
    labels[request.request_id] = False
    assess(risk, request, 5.0)
    result = evaluate(risk.records, labels, dict.fromkeys(labels, 100)).to_dict()
    assert result["rules"]["ip"] | {"recall": 0} == {
        "tp": 3, "fp": 0, "fn": 1, "tn": 1, "precision": 1.0, "recall": 0,
        "legit_blocked_share": 0.0, "money_saved_fen": 300, "flags": 3, "shadow": False,
    }  # fmt: skip
    assert result["overall"]["rejected"] == 3
