"""RiskEngine: every rule kind, the Decision, shadow mode, lists with expiry, determinism."""

from __future__ import annotations

import random

import pytest
from risk_helpers import assess, claim, coupon, engine_with, redemption, rule

from engine.errors import InvalidDefinition
from engine.requests import ClaimRequest
from engine.risk import DecisionRecord, RiskEngine, default_pack
from engine.risk_gate import Action, RiskVerdict

IP_5M = {"id": "ip_5m", "kind": "count", "key": "ip", "window_s": 300, "threshold": 5}


def test_a_count_rule_fires_above_its_threshold_with_the_value_in_the_reason() -> None:
    risk = engine_with(rule(**IP_5M, action="reject"))
    verdicts = [assess(risk, claim(f"c{i}", ip="1.2.3.4"), 1000.0 + i) for i in range(6)]
    assert [v.action for v in verdicts] == [Action.PASS] * 5 + [Action.REJECT]
    assert verdicts[-1].reasons == ("ip_5m: 6 > 5",)
    assert assess(risk, claim("other", ip="1.2.3.5"), 1010.0).action is Action.PASS


def test_a_count_window_expires_exactly_at_its_edge() -> None:
    risk = engine_with(rule(**{**IP_5M, "threshold": 1}, action="reject"))
    assert assess(risk, claim(ip="9.9.9.9"), 1000.0).action is Action.PASS
    assert assess(risk, claim(ip="9.9.9.9"), 1299.5).action is Action.REJECT  # 2 in window
    # at 1300 the event of 1000 has left; the one of 1299.5 is still in: 2 > 1 again
    assert assess(risk, claim(ip="9.9.9.9"), 1300.0).reasons == ("ip_5m: 2 > 1",)
    assert assess(risk, claim(ip="9.9.9.9"), 1599.5).reasons == ("ip_5m: 2 > 1",)
    assert assess(risk, claim(ip="9.9.9.9"), 1900.0).action is Action.PASS  # all gone


def test_two_windows_on_one_key_count_separately() -> None:
    risk = engine_with(
        rule(**IP_5M, action="review"),
        rule(id="ip_1d", kind="count", key="ip", window_s=86400, threshold=7, action="reject"),
    )
    actions = [assess(risk, claim(ip="5.5.5.5"), 1000.0 + 200 * i).action for i in range(8)]
    assert actions == [Action.PASS] * 7 + [Action.REJECT]  # never 6 within 5 minutes


def test_a_distinct_rule_counts_accounts_per_device() -> None:
    risk = engine_with(
        rule(id="dev", kind="distinct", key="device", distinct="customer", window_s=86400,
             threshold=2, action="reject"),
    )  # fmt: skip
    for customer in ("a", "b", "a", "b", "a"):
        assert assess(risk, claim(customer, device_id="d"), 10.0).action is Action.PASS
    verdict = assess(risk, claim("c", device_id="d"), 20.0)
    assert verdict.action is Action.REJECT and verdict.reasons == ("dev: 3 > 2",)
    assert assess(risk, claim("d", device_id="d"), 86_411.0).action is Action.PASS  # a, b gone


def test_ip24_and_person_keys() -> None:
    risk = engine_with(
        rule(id="net", kind="count", key="ip24", window_s=60, threshold=2, action="review"),
        rule(id="per", kind="count", key="person", window_s=60, threshold=1, action="reject"),
    )
    assert assess(risk, claim("a", ip="10.1.2.3"), 1.0).action is Action.PASS
    assert assess(risk, claim("b", ip="10.1.2.4"), 2.0).action is Action.PASS
    assert assess(risk, claim("c", ip="10.1.2.5"), 3.0).reasons == ("net: 3 > 2",)
    assess(risk, claim("x", phone="p"), 4.0)
    verdict = assess(risk, claim("y", phone="p"), 5.0)  # y is x's person
    assert verdict.action is Action.REJECT and verdict.reasons == ("per: 2 > 1",)


def test_account_age_fires_for_young_accounts_only_when_known() -> None:
    risk = engine_with(rule(id="young", kind="account_age", threshold=86400, action="review"))
    assert assess(risk, claim(account_created_s=0.0), 3600.0).reasons == (
        "young: 3.6e+03 s < 86400 s",
    )
    assert assess(risk, claim(account_created_s=0.0), 86_400.0).action is Action.PASS
    assert assess(risk, claim(), 10.0).action is Action.PASS  # age unknown


def test_claim_latency_fires_for_claims_in_the_first_second() -> None:
    risk = engine_with(rule(id="fast", kind="claim_latency", threshold=1.0, action="review"))
    fast = risk.assess_claim(claim(), "c1", opened_s=100.0, now_s=100.3)
    assert fast.action is Action.REVIEW and fast.reasons == ("fast: 0.3 s < 1 s",)
    assert risk.assess_claim(claim(), "c1", opened_s=100.0, now_s=101.0).action is Action.PASS


def test_small_repeated_orders_fire_per_device() -> None:
    risk = engine_with(
        rule(id="small", kind="small_orders", key="device", window_s=3600, threshold=2,
             amount_fen=5000, action="reject"),
    )  # fmt: skip
    cp = coupon()
    big = risk.assess_redemption(redemption(total_fen=90000, device_id="d"), cp, 0, 1.0)
    assert big.action is Action.PASS
    actions = [
        risk.assess_redemption(redemption(total_fen=4999, device_id="d"), cp, 0, 2.0 + i).action
        for i in range(3)
    ]
    assert actions == [Action.PASS, Action.PASS, Action.REJECT]  # the big order never counted


def test_orders_hugging_the_threshold_fire() -> None:
    risk = engine_with(
        rule(id="hug", kind="threshold_hugging", key="customer", window_s=86400, threshold=1,
             amount_fen=500, action="review"),
    )  # fmt: skip
    cp = coupon()

    def decide(total_fen: int, threshold_fen: int = 20000) -> Action:
        return risk.assess_redemption(
            redemption(total_fen=total_fen), cp, threshold_fen, 5.0
        ).action

    assert decide(20100) is Action.PASS  # first hugging order
    assert decide(25000) is Action.PASS  # well above: not counted
    assert decide(19999) is Action.PASS  # below the threshold: not counted
    assert decide(20500) is Action.REVIEW  # second within 5 yuan above: 2 > 1
    assert decide(20000, threshold_fen=0) is Action.PASS  # no threshold: nothing to hug
    assert decide(20001) is Action.REVIEW  # third: 3 > 1


def test_block_and_allow_lists_expire() -> None:
    risk = engine_with(
        rule(id="blocked", kind="blocklist", key="device", action="reject"),
        rule(id="friend", kind="allowlist", key="customer", action="allow"),
        rule(**{**IP_5M, "threshold": 0}, action="reject"),
    )
    risk.block("device", "bad", until_s=100.0)
    verdict = assess(risk, claim("c9", device_id="bad", ip=""), 99.0)
    assert verdict.action is Action.REJECT
    assert verdict.reasons == ("blocked: device bad listed until 100",)
    assert assess(risk, claim("c9", device_id="bad"), 100.0).action is Action.PASS  # expired
    risk.allow("customer", "vip", until_s=200.0)
    risk.block("device", "bad")
    assert assess(risk, claim("vip", device_id="bad", ip="1.1.1.1"), 150.0).action is Action.PASS
    assert assess(risk, claim("vip", device_id="bad", ip="1.1.1.1"), 200.0).action is Action.REJECT
    risk.unlist("device", "bad")
    assert assess(risk, claim("c7", device_id="bad"), 300.0).action is Action.PASS


def test_static_list_values_from_the_rule_never_expire() -> None:
    risk = engine_with(
        rule(id="b", kind="blocklist", key="ip", values=["6.6.6.6"], action="reject")
    )
    assert assess(risk, claim(ip="6.6.6.6"), 1e9).action is Action.REJECT


def test_block_names_the_bad_argument() -> None:
    risk = engine_with(rule(id="b", kind="blocklist", key="ip", action="reject"))
    with pytest.raises(InvalidDefinition, match="key_kind") as caught:
        risk.block("device", "d1", 10.0)  # no blocklist rule on devices
    assert "ip" in str(caught.value)
    with pytest.raises(InvalidDefinition, match="value"):
        risk.block("ip", "", 10.0)
    with pytest.raises(InvalidDefinition, match="key_kind"):
        risk.allow("ip", "1.1.1.1", 10.0)  # no allowlist rule at all


def test_score_rules_add_up_to_review_then_reject() -> None:
    risk = engine_with(
        rule(id="young", kind="account_age", threshold=86400, action="score", points=30),
        rule(id="fast", kind="claim_latency", threshold=1, action="score", points=40),
        rule(id="ipx", kind="count", key="ip", window_s=60, threshold=0, action="score",
             points=35),
    )  # fmt: skip
    only_young = risk.assess_claim(claim(account_created_s=0.0), "p", 0.0, 10.0)
    assert (only_young.action, only_young.score) == (Action.PASS, 30.0)
    two = risk.assess_claim(claim(account_created_s=0.0), "p", 9.5, 10.0)
    assert (two.action, two.score) == (Action.REVIEW, 70.0)
    three = risk.assess_claim(claim(account_created_s=0.0, ip="1.1.1.1"), "p", 9.5, 10.0)
    assert (three.action, three.score) == (Action.REJECT, 105.0)
    assert len(three.reasons) == 3


def test_shadow_rules_are_logged_and_never_block() -> None:
    risk = engine_with(rule(**{**IP_5M, "threshold": 0}, action="reject", shadow=True))
    verdicts = [assess(risk, claim(f"c{i}", ip="7.7.7.7"), float(i)) for i in range(20)]
    assert {v.action for v in verdicts} == {Action.PASS}
    assert all(v.reasons == () for v in verdicts)
    fired = [record.fired for record in risk.records]
    assert all(f and f[0].shadow and f[0].rule_id == "ip_5m" for f in fired[1:])
    assert {record.action for record in risk.records} == {Action.PASS}


def test_records_carry_kind_action_score_and_value() -> None:
    risk = engine_with(rule(id="all", kind="count", key="customer", window_s=60, action="review"))
    assess(risk, claim("c1"), 1.0)
    risk.assess_redemption(redemption("c1"), coupon("c1", 4200), 0, 2.0)
    claim_record, redemption_record = risk.records
    assert (claim_record.kind, claim_record.action, claim_record.value_fen) == (
        "claim",
        Action.REVIEW,
        0,
    )
    assert (redemption_record.kind, redemption_record.value_fen) == ("redemption", 4200)
    assert redemption_record.fired == ()  # the rule watches claims only
    assert engine_with(keep_log=False).records == []


def _traffic(seed: int) -> list[tuple[ClaimRequest, float]]:
    rng = random.Random(seed)
    out = []
    now_s = 0.0
    for i in range(3000):
        now_s += rng.expovariate(5.0)
        bot = rng.random() < 0.3
        n = rng.randrange(40 if bot else 5000)
        out.append(
            (
                claim(
                    f"{'bot' if bot else 'c'}{n}",
                    device_id=f"bd{n % 4}" if bot else f"d{n}",
                    ip=f"10.0.{n % 3}.{n % 5}" if bot else f"{n % 200}.1.2.{i % 250}",
                    phone=f"p{n}",
                    account_created_s=now_s - (100 if bot else 1e7),
                ),
                now_s,
            )
        )
    return out


def _decisions(
    traffic: list[tuple[ClaimRequest, float]],
) -> tuple[list[RiskVerdict], list[DecisionRecord]]:
    risk = RiskEngine(default_pack(), seed=1)
    verdicts = [assess(risk, request, now_s, opened_s=0.0) for request, now_s in traffic]
    return verdicts, list(risk.records)


def test_decisions_are_deterministic_for_a_given_event_sequence() -> None:
    traffic = _traffic(11)
    (first, first_log), (second, second_log) = _decisions(traffic), _decisions(traffic)
    assert first == second and first_log == second_log  # verdicts and every firing, shadow too
    assert len({v.action for v in first}) == 3  # the sequence exercises pass, review, reject


def test_duplicate_rule_ids_and_non_rules_are_refused() -> None:
    pack = default_pack()
    with pytest.raises(InvalidDefinition, match=r"rules\[1\].id"):
        RiskEngine([pack[0], pack[0]])
    with pytest.raises(InvalidDefinition, match=r"rules\[0\]"):
        RiskEngine([{"id": "x"}])  # type: ignore[list-item]


def test_window_memory_is_bounded_by_the_keys_of_the_last_two_spans() -> None:
    risk = RiskEngine(default_pack(), keep_log=False)
    for i in range(3000):
        assess(risk, claim(f"c{i}", ip=f"10.{i // 250}.{i % 250}.1", device_id=f"d{i}"), 1.0)
    held = risk.window_keys()
    assert held >= 3000 * 4  # ip, ip24 and person counts, device distincts, …
    for day in (2, 4):  # two day-long spans later, nothing of the first burst remains
        assess(risk, claim("late", ip="1.1.1.1", device_id="x"), day * 86_400.0)
    assert risk.window_keys() < 20


CLAIM_KEYS = {
    "ip": {"ip": "10.0.0.1"},
    "ip24": {"ip": "10.0.0.1"},
    "device": {"device_id": "d1"},
    "phone": {"phone": "138"},
    "card": {"card": "6222"},
    "customer": {},
    "person": {},
}


@pytest.mark.parametrize("key", sorted(CLAIM_KEYS))
def test_a_count_rule_counts_by_each_key_kind(key: str) -> None:
    risk = engine_with(rule(id="n", kind="count", key=key, window_s=60, threshold=2,
                            action="reject"))  # fmt: skip
    same = CLAIM_KEYS[key]
    customer = {"customer": "c1", "person": "c1"}.get(key)
    actions = [assess(risk, claim(customer or f"x{i}", **same), 10.0 + i).action for i in range(3)]
    assert actions == [Action.PASS, Action.PASS, Action.REJECT]
    other = {"ip": {"ip": "10.0.1.1"}, "ip24": {"ip": "10.0.1.1"}}.get(key, {})
    assert assess(risk, claim("someone-else", **other), 13.0).action is Action.PASS
    if key == "person":  # another account of the same natural person counts too
        linked = claim("c1-alt", phone="shared")
        assess(risk, claim("c1", phone="shared"), 14.0)
        assert assess(risk, linked, 15.0).reasons == ("n: 5 > 2",)


@pytest.mark.parametrize("key", ["ip", "ip24", "device", "customer", "person"])
def test_a_count_rule_on_redemptions_counts_by_each_key_kind(key: str) -> None:
    risk = engine_with(rule(id="n", kind="count", key=key, window_s=60, threshold=1,
                            event="redemption", action="review"))  # fmt: skip
    customer = "c1" if key in ("customer", "person") else None
    verdicts = [
        risk.assess_redemption(
            redemption(customer or f"x{i}", ip="10.0.0.1", device_id="d1"), coupon(), 0, 1.0 + i
        )
        for i in range(2)
    ]
    assert [v.action for v in verdicts] == [Action.PASS, Action.REVIEW]
    assert verdicts[1].reasons == ("n: 2 > 1",)
    claimed = assess(risk, claim("c1", ip="10.0.0.1", device_id="d1"), 5.0)
    assert claimed.action is Action.PASS  # claims are not counted


@pytest.mark.parametrize(
    ("key", "distinct", "claims"),
    [
        ("ip", "person", [("a", {"ip": "1.1.1.1"}), ("a", {"ip": "1.1.1.1"}),
                          ("b", {"ip": "1.1.1.1"})]),
        ("device", "ip24", [("a", {"device_id": "d", "ip": "1.1.1.1"}),
                            ("b", {"device_id": "d", "ip": "1.1.1.9"}),
                            ("c", {"device_id": "d", "ip": "1.1.2.1"})]),
        ("ip", "device", [("a", {"ip": "1.1.1.1", "device_id": "x"}),
                          ("b", {"ip": "1.1.1.1", "device_id": "x"}),
                          ("c", {"ip": "1.1.1.1", "device_id": "y"})]),
        ("person", "device", [("a", {"device_id": "x", "phone": "p"}),
                              ("a", {"device_id": "x", "phone": "p"}),
                              ("b", {"device_id": "y", "phone": "p"})]),  # b is a's person
        ("ip24", "customer", [("a", {"ip": "1.1.1.1"}), ("a", {"ip": "1.1.1.2"}),
                              ("b", {"ip": "1.1.1.3"})]),
    ],
)  # fmt: skip
def test_distinct_rules_on_other_keys(
    key: str, distinct: str, claims: list[tuple[str, dict[str, str]]]
) -> None:
    risk = engine_with(rule(id="d", kind="distinct", key=key, distinct=distinct, window_s=60,
                            threshold=1, action="review"))  # fmt: skip
    verdicts = [assess(risk, claim(c, **ids), float(i)) for i, (c, ids) in enumerate(claims)]
    assert [v.reasons for v in verdicts] == [(), (), ("d: 2 > 1",)]


def test_shadow_firings_add_no_points_and_no_reasons() -> None:
    risk = engine_with(
        rule(id="loud", kind="count", key="ip", window_s=60, threshold=0, action="reject",
             shadow=True),
        rule(id="pts", kind="count", key="ip", window_s=60, threshold=0, action="score",
             points=60, shadow=True),
        rule(id="young", kind="account_age", threshold=100, action="score", points=30),
    )  # fmt: skip
    verdict = assess(risk, claim(ip="1.1.1.1", account_created_s=0.0), 10.0)
    assert (verdict.action, verdict.score, verdict.reasons) == (
        Action.PASS, 30.0, ("young: 10 s < 100 s",)
    )  # fmt: skip
    assert {f.rule_id for f in risk.records[-1].fired} == {"loud", "pts", "young"}


def test_the_whole_default_pack_in_shadow_never_blocks_a_ring() -> None:
    import dataclasses

    pack = [dataclasses.replace(r, shadow=True) for r in default_pack()]
    risk = RiskEngine(pack)
    risk.block("device", "ring")
    verdicts = [
        assess(risk, claim(f"bot{i}", device_id="ring", ip="6.6.6.6", account_created_s=0.0),
               1.0 + i * 0.01, opened_s=1.0)
        for i in range(50)
    ]  # fmt: skip
    assert {v.action for v in verdicts} == {Action.PASS}
    assert all(v.reasons == () and v.score == 0.0 for v in verdicts)
    fired = {f.rule_id for record in risk.records for f in record.fired}
    assert {"device_accounts_1d", "ip_accounts_5m", "ip_accounts_1d", "blocklist_device"} <= fired


def test_an_allowlisted_customer_passes_whatever_else_fires() -> None:
    risk = engine_with(
        rule(id="vip", kind="allowlist", key="customer", values=["vip"], action="allow"),
        rule(id="all", kind="count", key="ip", window_s=60, threshold=0, action="reject"),
    )
    verdict = assess(risk, claim("vip", ip="1.1.1.1"), 1.0)
    assert verdict.action is Action.PASS and verdict.score == 0.0
    assert assess(risk, claim("nobody", ip="1.1.1.1"), 2.0).action is Action.REJECT


def test_review_and_reject_scores_are_configurable() -> None:
    young = rule(id="young", kind="account_age", threshold=100, action="score", points=30)
    assert assess(engine_with(young), claim(account_created_s=0.0), 1.0).action is Action.PASS
    strict = engine_with(young, review_score=20, reject_score=30)
    assert assess(strict, claim(account_created_s=0.0), 1.0).action is Action.REJECT
    with pytest.raises(InvalidDefinition, match="review_score"):
        engine_with(young, review_score=60, reject_score=30)


def test_list_rules_on_redemptions() -> None:
    risk = engine_with(rule(id="b", kind="blocklist", key="device", event="redemption",
                            action="reject"))  # fmt: skip
    risk.block("device", "bad", until_s=50.0)
    blocked = risk.assess_redemption(redemption(device_id="bad"), coupon(), 0, 10.0)
    assert blocked.reasons == ("b: device bad listed until 50",)
    assert assess(risk, claim(device_id="bad"), 11.0).action is Action.PASS  # claims: no rule
    assert risk.assess_redemption(redemption(device_id="bad"), coupon(), 0, 50.0).action is (
        Action.PASS
    )


def test_assessing_without_person_of_links_the_identity_itself() -> None:
    linked, direct = RiskEngine(default_pack()), RiskEngine(default_pack())
    for i in range(6):
        request = claim(f"acct{i}", phone="shared", device_id=f"d{i}")
        a = assess(linked, request, 10.0 + i)
        b = direct.assess_claim(request, linked.identity.person_of_customer(request.customer_id),
                                0.0, 10.0 + i)  # fmt: skip
        assert a == b
    assert direct.identity.person_of_customer("acct5") == "acct0"


def test_a_caller_s_own_person_ids_key_the_person_rules() -> None:
    """With another identity resolver (here: each customer is its own person), Rules keyed by
    person count by the person id the caller passes."""
    risk = engine_with(rule(id="per", kind="count", key="person", window_s=60, threshold=1,
                            action="reject"))  # fmt: skip
    risk.person_of(claim("a", phone="p"))
    request = claim("b", phone="p")  # our identity says: person "a"
    assert risk.assess_claim(request, "b", 0.0, 1.0).action is Action.PASS
    assert risk.assess_claim(claim("b", phone="p"), "b", 0.0, 2.0).reasons == ("per: 2 > 1",)


def test_the_generated_paths_can_be_read() -> None:
    risk = RiskEngine(default_pack())
    claim_source, redemption_source = risk.source("claim"), risk.source("redemption")
    assert claim_source.startswith("def assess_claim(self, request, person_id, opened_s, now_s):")
    assert "total_fen <= 5000" in redemption_source  # small_orders_1h, its amount inlined
    assert "86400" in claim_source  # new_account_1d's threshold inlined


def test_ipv6_addresses_of_one_48_share_one_subnet_however_written() -> None:
    """``2001:db8::1`` and ``2001:0db8:0000:0001::2`` are in one /48: one subnet key (the
    address is parsed, not split on colons); IPv4 keeps its /24 fast path."""
    from engine.risk.codegen import subnet_of

    assert subnet_of("2001:db8::1") == subnet_of("2001:0db8:0000:0001::2") == "2001:db8::/48"
    assert subnet_of("2001:db8:1::1") != subnet_of("2001:db8::1")
    assert (subnet_of("10.1.2.3"), subnet_of("not:an:ip:::x"), subnet_of("")) == ("10.1.2", "", "")
    risk = engine_with(rule(kind="count", key="ip24", window_s=60, threshold=1, action="reject"))
    first = assess(risk, claim("a", ip="2001:db8::1"), 1.0)
    second = assess(risk, claim("b", ip="2001:0DB8:0000:0001::2"), 2.0)
    assert (first.action, second.action) == (Action.PASS, Action.REJECT)
