"""Natural persons: identifiers seen together merge, across chains, and person Limits follow."""

from __future__ import annotations

from risk_helpers import claim

from engine import (
    ClaimRequest,
    ClaimWindow,
    Engine,
    Limit,
    MemoryStore,
    Outcome,
    Period,
    StockSpec,
    Subject,
    Validity,
    Voucher,
)
from engine.risk import Identity, RiskEngine

OPEN_S = 1_800_000_000.0


def test_a_customer_seen_alone_is_its_own_person() -> None:
    identity = Identity()
    assert identity.person_of(claim("alice", device_id="d1")) == "alice"
    assert identity.person_of(claim("bob", device_id="d2")) == "bob"


def test_a_chain_a_phone_b_device_c_is_one_person() -> None:
    identity = Identity()
    assert identity.person_of(claim("A", phone="138", device_id="dA")) == "A"
    assert identity.person_of(claim("B", phone="138", device_id="dB")) == "A"  # shares A's phone
    assert identity.person_of(claim("C", device_id="dB", card="k")) == "A"  # shares B's device
    assert identity.person_of_customer("C") == "A"
    assert identity.person_of(claim("D", card="k2")) == "D"


def test_a_merge_keeps_the_older_person_id_whatever_the_tree_sizes() -> None:
    identity = Identity()
    identity.person_of(claim("old", device_id="d0"))
    for i in range(5):  # a bigger, younger component
        identity.person_of(claim(f"young{i}", phone="p-young"))
    assert identity.person_of_customer("young3") == "young0"
    identity.person_of(claim("bridge", device_id="d0", phone="p-young"))
    assert {identity.person_of_customer(c) for c in ("old", "young4", "bridge")} == {"old"}


def test_every_identifier_kind_links_and_ip_never_does() -> None:
    identity = Identity()
    for kind in ("phone", "device_id", "card", "id_hash"):
        first = identity.person_of(claim(f"x-{kind}", **{kind: f"shared-{kind}"}))
        assert identity.person_of(claim(f"y-{kind}", **{kind: f"shared-{kind}"})) == first
    identity.person_of(claim("n1", ip="10.0.0.1"))
    assert identity.person_of(claim("n2", ip="10.0.0.1")) == "n2"


def test_unknown_customer_is_its_own_person_and_is_not_added() -> None:
    identity = Identity()
    assert identity.person_of_customer("ghost") == "ghost"
    assert len(identity) == 0


def test_a_long_chain_resolves_to_one_person() -> None:
    identity = Identity()
    for i in range(2000):  # c0 -p0- c1 -p1- c2 ... (phone i links c_i and c_{i+1})
        identity.person_of(claim(f"c{i}", device_id=f"d{i}", phone=f"p{i - 1}"))
        identity.person_of(claim(f"c{i}", phone=f"p{i}"))
    assert {identity.person_of_customer(f"c{i}") for i in range(2000)} == {"c0"}


def _stock() -> StockSpec:
    return StockSpec(
        "friday",
        Voucher(face_fen=5000, threshold_fen=20000),
        quota=100,
        budget_fen=500_000,
        window=ClaimWindow(OPEN_S, OPEN_S + 86_400),
        validity=Validity(days_after_claim=7),
        limits=(Limit(Subject.PERSON, Period.CAMPAIGN, 1),),
    )


def test_a_person_limit_in_the_coupon_engine_applies_across_the_chain() -> None:
    risk = RiskEngine((), seed=7)
    engine = Engine(MemoryStore(), seed=7, risk=risk, identity=risk)
    engine.create_stock(_stock(), "create", OPEN_S)
    now_s = OPEN_S + 60

    def ask(request_id: str, customer: str, phone: str = "", device_id: str = "") -> Outcome:
        request = ClaimRequest(request_id, "friday", customer, device_id=device_id, phone=phone)
        return engine.claim(request, now_s).outcome

    assert ask("1", "A", phone="138", device_id="dA") is Outcome.OK
    assert ask("2", "B", phone="138", device_id="dB") is Outcome.LIMIT_REACHED  # A's phone
    assert ask("3", "C", device_id="dB") is Outcome.LIMIT_REACHED  # via B's device
    assert ask("4", "E", device_id="dE") is Outcome.OK  # someone else


def test_without_the_resolver_the_same_chain_gets_three_coupons() -> None:
    engine = Engine(MemoryStore(), seed=7, risk=RiskEngine(()))
    engine.create_stock(_stock(), "create", OPEN_S)
    outcomes = [
        engine.claim(ClaimRequest(str(i), "friday", c, phone="138"), OPEN_S + 60).outcome
        for i, c in enumerate("ABC")
    ]
    assert outcomes == [Outcome.OK] * 3


def test_after_a_merge_person_rules_go_on_with_the_older_person_s_count() -> None:
    """Rules keyed by person count by the person id: a merge keeps the older id's window, and
    what was counted under the younger id stays there."""
    from risk_helpers import assess, engine_with, rule

    risk = engine_with(rule(id="per", kind="count", key="person", window_s=60, threshold=0,
                            action="score", points=1))  # fmt: skip
    counts = [assess(risk, claim("A", phone="pa"), 1.0 + i).reasons for i in range(2)]
    counts += [assess(risk, claim("B", phone="pb"), 3.0 + i).reasons for i in range(3)]
    assert counts == [("per: 1 > 0",), ("per: 2 > 0",), ("per: 1 > 0",), ("per: 2 > 0",),
                      ("per: 3 > 0",)]  # fmt: skip
    bridge = claim("B", phone="pa")  # B now shares A's phone: one person, "A"
    assert risk.person_of(bridge) == "A"
    assert risk.assess_claim(bridge, "A", 0.0, 7.0).reasons == ("per: 3 > 0",)


def test_a_claim_with_the_customer_s_latest_identifiers_gets_the_merged_person() -> None:
    """The fast path (the same identifiers as the customer's latest claim) still follows merges
    that happened since, through other customers."""
    identity = Identity()
    assert identity.person_of(claim("A", device_id="dA")) == "A"
    assert identity.person_of(claim("B", phone="pB", card="kB")) == "B"
    assert identity.person_of(claim("B", phone="pB", card="kB")) == "B"  # the fast path
    assert identity.person_of(claim("C", phone="pB", device_id="dA")) == "A"  # A and B merge
    assert identity.person_of(claim("B", phone="pB", card="kB")) == "A"  # fast, merged
    resolved = identity.resolve(claim("B", phone="pB", card="kB"))
    _, customer, phone, device, card, person = resolved
    assert (phone, device, card) == (identity._phones["pB"], None, identity._cards["kB"])
    assert customer is identity._customers["B"] and person.label == "A"
    assert identity.person_of(claim("B", phone="pB")) == "A"  # another set: the full walk
    assert len(identity) == 6  # A, B, C, dA, pB, kB: nothing linked twice
