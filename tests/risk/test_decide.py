"""The Decision from firings, against the precedence of docs/risk.md written out literally."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.risk import Firing, decide
from engine.risk_gate import Action, RiskVerdict

FIRINGS = st.builds(
    Firing,
    st.sampled_from(["a", "b", "c"]),
    st.booleans(),
    st.sampled_from(["reject", "review", "score", "allow"]),
    st.sampled_from(["a: 3 > 2", "b: 0.3 s < 1 s"]),
    st.sampled_from([0.0, 10.0, 30.0, 40.0, 60.0]),
)


def _literally(fired: list[Firing], review_score: float, reject_score: float) -> RiskVerdict:
    enforced = [firing for firing in fired if not firing.shadow]
    score = sum((firing.points for firing in enforced), 0.0)
    reasons = tuple(firing.detail for firing in enforced)
    actions = {firing.action for firing in enforced}
    if not enforced:
        return RiskVerdict(Action.PASS)
    if "allow" in actions:
        return RiskVerdict(Action.PASS, 0.0, reasons)
    if "reject" in actions or score >= reject_score:
        return RiskVerdict(Action.REJECT, score, reasons)
    if "review" in actions or score >= review_score:
        return RiskVerdict(Action.REVIEW, score, reasons)
    return RiskVerdict(Action.PASS, score, reasons)


@given(fired=st.lists(FIRINGS, max_size=4), scores=st.sampled_from([(50.0, 100.0), (30.0, 40.0)]))
def test_decide_follows_the_precedence(fired: list[Firing], scores: tuple[float, float]) -> None:
    got = decide(fired, *scores)
    want = _literally(fired, *scores)
    assert got == want and type(got.score) is float and type(got.reasons) is tuple
