"""The engine's view of risk: what it asks before a claim or redemption, and what it gets back.

The risk engine (:mod:`engine.risk`) implements :class:`RiskGate` and :class:`IdentityResolver`;
the coupon engine depends only on these protocols, so it runs without risk at all.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple, Protocol, runtime_checkable

from engine.coupon import Coupon
from engine.requests import ClaimRequest, RedemptionRequest


class Action(StrEnum):
    PASS = "pass"
    REVIEW = "review"
    REJECT = "reject"


class RiskVerdict(NamedTuple):
    """The risk engine's decision: an action, a score, and the reasons that triggered it
    (each reason names its rule and the values that fired it, e.g. ``ip_5m: 6 > 5``).

    ``record`` identifies the gate's log entry of a ``review`` (-1: none), so that the engine,
    handing the verdict back to :meth:`ReviewLog.enforced`, updates that entry and no other —
    whatever the gate assessed and logged in between (threads)."""

    action: Action
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    record: int = -1


PASS = RiskVerdict(Action.PASS)


class RiskGate(Protocol):
    def assess_claim(
        self, request: ClaimRequest, person_id: str, opened_s: float, now_s: float
    ) -> RiskVerdict:
        """Decide a claim that passed the window and eligibility checks; ``opened_s`` is when
        the current window slot opened (for claim-latency rules). Records the event."""
        ...

    def assess_redemption(
        self, request: RedemptionRequest, coupon: Coupon, threshold_fen: int, now_s: float
    ) -> RiskVerdict:
        """Decide a redemption (small repeated orders, orders hugging the threshold)."""
        ...


@runtime_checkable
class ReviewLog(Protocol):
    """A risk gate that wants to know what became of its ``review`` verdicts (optional: the
    engine calls it when the gate has it)."""

    def enforced(self, verdict: RiskVerdict, passed: bool) -> None:
        """The review ``verdict`` (as this gate returned it: its ``record`` names the log entry
        it made) was let through (``passed``: policy ``pass_and_flag`` or a solved challenge)
        or refused (policy ``reject``, a failed challenge)."""
        ...


class IdentityResolver(Protocol):
    def person_of(self, request: ClaimRequest) -> str:
        """The natural person (自然人) behind the request's identifiers."""
        ...


class CustomerIsPerson:
    """The trivial resolver: every customer id is its own natural person."""

    def person_of(self, request: ClaimRequest) -> str:
        return request.customer_id
