"""The risk engine against wool-puller rings (羊毛党): identity, windowed Rules, Decisions.

Usage::

    risk = RiskEngine(default_pack(), seed=s)
    engine = Engine(store, seed=s, risk=risk, identity=risk)

Modules: :mod:`~engine.risk.rules` (Rule, strict parsing), :mod:`~engine.risk.pack` (the default
pack), :mod:`~engine.risk.identity` (natural persons), :mod:`~engine.risk.windows` (sliding
windows), :mod:`~engine.risk.plan` (Rules grouped by window state), :mod:`~engine.risk.codegen`
(the hot path generated from the plan, with :mod:`~engine.risk.firegen`, the groups' fire
functions, and :mod:`~engine.risk.checkgen`, lists, age and latency), :mod:`~engine.risk.decide`
(the Decision), :mod:`~engine.risk.engine` (RiskEngine), :mod:`~engine.risk.evaluation` (against
ground truth).
Reference: docs/risk.md.
"""

from engine.risk.decide import DecisionRecord, Firing, decide
from engine.risk.engine import RiskEngine
from engine.risk.evaluation import Confusion, RiskEvaluation, evaluate
from engine.risk.identity import Identity
from engine.risk.pack import default_pack, default_pack_dicts
from engine.risk.rules import (
    Event,
    KeyKind,
    Rule,
    RuleAction,
    RuleKind,
    rule_from_dict,
    rule_to_dict,
    rules_from_dicts,
)

__all__ = [
    "Confusion",
    "DecisionRecord",
    "Event",
    "Firing",
    "Identity",
    "KeyKind",
    "RiskEngine",
    "RiskEvaluation",
    "Rule",
    "RuleAction",
    "RuleKind",
    "decide",
    "default_pack",
    "default_pack_dicts",
    "evaluate",
    "rule_from_dict",
    "rule_to_dict",
    "rules_from_dicts",
]
