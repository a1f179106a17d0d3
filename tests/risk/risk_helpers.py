"""Shared builders of the risk tests: claims, redemptions, coupons and one-rule engines."""

from __future__ import annotations

from typing import Any

from engine.coupon import Coupon
from engine.requests import ClaimRequest, OrderLine, RedemptionRequest
from engine.risk import RiskEngine, Rule, rule_from_dict

_counter = {"n": 0}


def claim(customer: str = "c1", **fields: Any) -> ClaimRequest:
    """A claim with a fresh request id."""
    _counter["n"] += 1
    return ClaimRequest(f"req-{_counter['n']}", "s1", customer, **fields)


def redemption(customer: str = "c1", total_fen: int = 30000, **fields: Any) -> RedemptionRequest:
    _counter["n"] += 1
    lines = (OrderLine("l1", total_fen),)
    return RedemptionRequest(f"red-{_counter['n']}", f"cp-{customer}", customer, lines, **fields)


def coupon(customer: str = "c1", value_fen: int = 5000) -> Coupon:
    return Coupon(f"cp-{customer}", "s1", customer, value_fen, 0.0, 1e9)


def rule(**fields: Any) -> Rule:
    fields.setdefault("id", "r")
    return rule_from_dict(fields, "rule")


def engine_with(*rules: Rule, **options: Any) -> RiskEngine:
    return RiskEngine(rules, **options)


def assess(risk: RiskEngine, request: ClaimRequest, now_s: float, opened_s: float = -1e6) -> Any:
    """What the coupon engine does for a claim: resolve the person, then assess."""
    return risk.assess_claim(request, risk.person_of(request), opened_s, now_s)
