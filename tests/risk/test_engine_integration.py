"""The RiskEngine inside the coupon engine: rejections, review policies, redemptions."""

from __future__ import annotations

import dataclasses

import pytest

from engine import (
    ClaimRequest,
    ClaimWindow,
    Engine,
    MemoryStore,
    OrderLine,
    Outcome,
    RedemptionRequest,
    ReviewPolicy,
    StockSpec,
    Validity,
    Voucher,
)
from engine.risk import RiskEngine, default_pack, evaluate, rules_from_dicts

OPEN_S = 1_800_000_000.0
STOCK = StockSpec(
    "friday",
    Voucher(face_fen=5000, threshold_fen=20000),
    quota=1000,
    budget_fen=5_000_000,
    window=ClaimWindow(OPEN_S, OPEN_S + 86_400),
    validity=Validity(days_after_claim=7),
)


def _engine(stock: StockSpec, risk: RiskEngine) -> Engine:
    engine = Engine(MemoryStore(), seed=5, risk=risk, identity=risk)
    engine.create_stock(stock, "create", OPEN_S)
    return engine


def test_a_ring_on_one_device_is_rejected_from_its_third_account() -> None:
    risk = RiskEngine(default_pack(), seed=5)
    engine = _engine(STOCK, risk)
    results = [
        engine.claim(ClaimRequest(f"r{i}", "friday", f"acct{i}", device_id="ring"), OPEN_S + 60 + i)
        for i in range(5)
    ]
    assert [r.outcome for r in results] == [Outcome.OK] * 2 + [Outcome.RISK_REJECTED] * 3
    assert "device_accounts_1d: 3 > 2" in results[2].reasons
    assert [record.action for record in risk.records][:3] == ["pass", "pass", "reject"]


def test_review_under_pass_and_flag_issues_a_flagged_coupon() -> None:
    rules = rules_from_dicts(
        [{"id": "fast", "kind": "claim_latency", "threshold": 2, "action": "review"}]
    )
    stock = dataclasses.replace(STOCK, review_policy=ReviewPolicy.PASS_AND_FLAG)
    engine = _engine(stock, RiskEngine(rules))
    fast = engine.claim(ClaimRequest("r1", "friday", "bot"), OPEN_S + 0.2)
    assert fast.outcome is Outcome.OK and fast.flagged
    assert fast.reasons == ("fast: 0.2 s < 2 s",)
    slow = engine.claim(ClaimRequest("r2", "friday", "human"), OPEN_S + 30)
    assert slow.outcome is Outcome.OK and not slow.flagged


def test_redemptions_pass_through_the_redemption_rules() -> None:
    rules = rules_from_dicts(
        [{"id": "hug", "kind": "threshold_hugging", "key": "person", "window_s": 86400,
          "threshold": 0, "amount_fen": 500, "action": "reject"}]
    )  # fmt: skip
    risk = RiskEngine(rules)
    engine = _engine(STOCK, risk)
    coupons = [
        engine.claim(ClaimRequest(f"c{i}", "friday", "cust"), OPEN_S + 10 + i).coupon
        for i in range(2)
    ]
    first, second = coupons
    assert first is not None and second is not None
    generous = RedemptionRequest("p1", first.coupon_id, "cust", (OrderLine("l", 30000),))
    assert engine.redeem(generous, OPEN_S + 100).outcome is Outcome.OK
    hugging = RedemptionRequest("p2", second.coupon_id, "cust", (OrderLine("l", 20100),))
    result = engine.redeem(hugging, OPEN_S + 200)
    assert result.outcome is Outcome.RISK_REJECTED
    assert result.reasons == ("hug: 1 > 0",)
    assert risk.records[-1].value_fen == 5000


def _review_everyone() -> RiskEngine:
    """Every claim goes to review (it comes within a day of the opening)."""
    rules = rules_from_dicts(
        [{"id": "early", "kind": "claim_latency", "threshold": 86_400, "action": "review"}]
    )
    return RiskEngine(rules)


def _outcomes(stock: StockSpec, seed: int) -> list[tuple[Outcome, bool]]:
    engine = Engine(MemoryStore(), seed=seed, risk=_review_everyone())
    engine.create_stock(stock, "create", OPEN_S)
    results = [
        engine.claim(ClaimRequest(f"r{i}", "friday", f"c{i}"), OPEN_S + 10 + i) for i in range(400)
    ]
    return [(r.outcome, r.flagged) for r in results]


def test_review_under_reject_refuses_and_under_challenge_passes_a_seeded_share() -> None:
    assert {o for o, _ in _outcomes(STOCK, 5)} == {Outcome.RISK_REJECTED}
    challenge = dataclasses.replace(
        STOCK, review_policy=ReviewPolicy.CHALLENGE, challenge_pass_share=0.7
    )
    first, again, other = _outcomes(challenge, 5), _outcomes(challenge, 5), _outcomes(challenge, 6)
    assert first == again  # deterministic from the seed
    assert first != other  # and a different seed draws other customers
    passed = [flagged for outcome, flagged in first if outcome is Outcome.OK]
    assert 0.6 < len(passed) / len(first) < 0.8 and all(passed)  # passed, flagged
    assert {o for o, _ in first} == {Outcome.OK, Outcome.RISK_REJECTED}


# -- the default pack and multi-coupon packs (several stocks claimed together) ---------------

PACK_STOCKS = ["repay_1", "repay_2", "repay_3", "reswipe_50_10", "extra_1", "extra_2"]


def _pack_engine() -> tuple[Engine, RiskEngine]:
    """Six stocks under the default pack with review policy ``reject`` (any review refuses),
    like scenarios/dormant_reactivation.toml's four, and two more."""
    risk = RiskEngine(default_pack(), seed=5)
    engine = Engine(MemoryStore(), seed=5, risk=risk, identity=risk)
    for stock_id in PACK_STOCKS:
        engine.create_stock(dataclasses.replace(STOCK, stock_id=stock_id), stock_id, OPEN_S)
    return engine, risk


def test_one_customer_claiming_a_pack_of_six_stocks_from_one_ip_passes() -> None:
    """The pack counts accounts per IP and one person's claims per stock: a customer claiming
    six stocks in a minute from home is one account and one claim per stock."""
    engine, risk = _pack_engine()
    results = [
        engine.claim(
            ClaimRequest(f"c-{stock_id}", stock_id, "alice", "phone-1", ip="10.0.0.7"),
            OPEN_S + 60 + i,
        )
        for i, stock_id in enumerate(PACK_STOCKS)
    ]
    assert [r.outcome for r in results] == [Outcome.OK] * 6
    assert all(record.fired == () for record in risk.records)


def test_six_accounts_from_one_ip_in_five_minutes_are_reviewed() -> None:
    """design.md: "> 5 accounts per IP in 5 min" — the sixth distinct account."""
    engine, _ = _pack_engine()
    results = [
        engine.claim(ClaimRequest(f"r{i}", "repay_1", f"acct{i}", ip="10.0.0.9"), OPEN_S + 60 + i)
        for i in range(6)
    ]
    assert [r.outcome for r in results] == [Outcome.OK] * 5 + [Outcome.RISK_REJECTED]
    assert results[5].reasons == ("ip_accounts_5m: 6 > 5",)


def test_one_person_claiming_one_stock_with_four_accounts_is_reviewed() -> None:
    """person_claims_1d counts per stock: four accounts of one natural person (one hashed ID
    card) on one stock fire it; the same four on four stocks do not."""
    engine, _ = _pack_engine()
    one_stock = [
        engine.claim(ClaimRequest(f"a{i}", "repay_1", f"twin{i}", id_hash="id-1"), OPEN_S + i)
        for i in range(4)
    ]
    assert [r.outcome for r in one_stock] == [Outcome.OK] * 3 + [Outcome.RISK_REJECTED]
    assert one_stock[3].reasons == ("person_claims_1d: 4 > 3",)
    spread = [
        engine.claim(ClaimRequest(f"b{i}", stock_id, f"other{i}", id_hash="id-2"), OPEN_S + i)
        for i, stock_id in enumerate(PACK_STOCKS[:4])
    ]
    assert [r.outcome for r in spread] == [Outcome.OK] * 4


@pytest.mark.parametrize("policy", list(ReviewPolicy))
def test_the_evaluation_counts_what_the_review_policy_enforced(policy: ReviewPolicy) -> None:
    """Every claim is reviewed; the evaluation's overall flags are the claims the engine
    refused: all under ``reject``, none under ``pass_and_flag``, the failed challenges under
    ``challenge`` — never simply every review."""
    rules = rules_from_dicts(
        [{"id": "slow", "kind": "claim_latency", "threshold": 1e6, "action": "review"}]
    )
    stock = dataclasses.replace(STOCK, review_policy=policy, challenge_pass_share=0.5)
    risk = RiskEngine(rules)
    engine = _engine(stock, risk)
    results = [
        engine.claim(ClaimRequest(f"r{i}", "friday", f"u{i}"), OPEN_S + i) for i in range(40)
    ]
    refused = sum(r.outcome is Outcome.RISK_REJECTED for r in results)
    expected = {ReviewPolicy.REJECT: 40, ReviewPolicy.PASS_AND_FLAG: 0}.get(policy, refused)
    assert refused == expected and (policy is not ReviewPolicy.CHALLENGE or 0 < refused < 40)
    labels = {f"r{i}": i % 2 == 0 for i in range(40)}
    overall = evaluate(risk.records, labels).to_dict()["overall"]
    assert overall["flags"] == refused
    assert (overall["reviewed"], overall["review_passed"]) == (40, 40 - refused)
    assert [record.refused for record in risk.records] == [
        r.outcome is Outcome.RISK_REJECTED for r in results
    ]
