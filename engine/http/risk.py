"""The risk engine as the server uses it: ``--risk default`` builds
``RiskEngine(default_pack(), seed=seed)`` and passes it to the engine as risk gate and identity
resolver. When a blocking store makes the server call the engine from a thread pool, every risk
call is serialised by one lock, because the risk engine keeps sliding-window state in memory.

With ``--workers W`` each worker process keeps its own risk state: counts over sliding windows are
per worker, not shared (documented in docs/http.md).
"""

from __future__ import annotations

import threading

from engine.coupon import Coupon
from engine.requests import ClaimRequest, RedemptionRequest
from engine.risk_gate import IdentityResolver, RiskGate, RiskVerdict


class LockedRisk:
    """A :class:`RiskGate` and :class:`IdentityResolver` whose calls hold one lock."""

    def __init__(self, gate: RiskGate, identity: IdentityResolver) -> None:
        self._gate = gate
        self._identity = identity
        self._lock = threading.Lock()

    def person_of(self, request: ClaimRequest) -> str:
        with self._lock:
            return self._identity.person_of(request)

    def assess_claim(
        self, request: ClaimRequest, person_id: str, opened_s: float, now_s: float
    ) -> RiskVerdict:
        with self._lock:
            return self._gate.assess_claim(request, person_id, opened_s, now_s)

    def assess_redemption(
        self, request: RedemptionRequest, coupon: Coupon, threshold_fen: int, now_s: float
    ) -> RiskVerdict:
        with self._lock:
            return self._gate.assess_redemption(request, coupon, threshold_fen, now_s)


def risk_engine(seed: int, threaded: bool) -> tuple[RiskGate, IdentityResolver]:
    """The default rule pack as (risk gate, identity resolver); raises if engine.risk is absent."""
    try:
        from engine.risk import RiskEngine, default_pack  # type: ignore[import-not-found,unused-ignore]
    except ImportError as error:
        raise ValueError(
            "--risk default needs the engine.risk package, which is missing"
        ) from error
    risk = RiskEngine(default_pack(), seed=seed, keep_log=False)
    if threaded:
        locked = LockedRisk(risk, risk)
        return locked, locked
    return risk, risk
