"""The fast RiskEngine against the naive model of tests/risk/reference.py, on random Rule packs
and random event sequences (window edges hit exactly, the clock stepping back, long gaps that end
window generations, natural persons merging, lists with expiry), with the fast paths hit often:
customers claiming again with the identifiers of their latest claim (the identity fast path, also
after their component merged), IPs sharing a subnet across generations of the key tables (the
subnet linked from the IP's state), addresses without a subnet, Rules counting per stock over
claims and redemptions of two stocks."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import Reference

from engine.coupon import Coupon
from engine.requests import ClaimRequest, OrderLine, RedemptionRequest
from engine.risk import Firing, RiskEngine, rules_from_dicts
from engine.risk.rules import REDEMPTION_KEYS, KeyKind
from engine.risk_gate import RiskVerdict

CLAIM_KEYS = [kind.value for kind in KeyKind]
REDEMPTION = sorted(kind.value for kind in REDEMPTION_KEYS)
WINDOWS = st.sampled_from([1.0, 2.0, 5.0, 10.0])
THRESHOLDS = st.integers(0, 3)
IPS = ["10.0.0.1", "10.0.0.2", "10.0.1.1", "192.168.1.1", "2001:db8:1::1", "2001:db8:1::2",
       "2001:0db8:0001:0::3", "local", ""]  # fmt: skip
STOCKS = st.sampled_from(["s", "s", "t"])


@st.composite
def _action(draw: Any) -> dict[str, Any]:
    action = draw(st.sampled_from(["reject", "review", "score"]))
    points = draw(st.sampled_from([10, 30, 60])) if action == "score" else 0
    return {"action": action, "points": points, "shadow": draw(st.booleans())}


@st.composite
def _rule(draw: Any) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            ["count", "distinct", "account_age", "claim_latency", "small_orders",
             "threshold_hugging", "blocklist", "allowlist"]
        )
    )  # fmt: skip
    event = "redemption" if kind in ("small_orders", "threshold_hugging") else "claim"
    if kind in ("count", "distinct", "blocklist", "allowlist"):
        event = draw(st.sampled_from(["claim", "claim", "redemption"]))
    keys = CLAIM_KEYS if event == "claim" else REDEMPTION
    item: dict[str, Any] = {"kind": kind, "event": event, **draw(_action())}
    if kind == "allowlist":
        item.update(action="allow", points=0)
    if kind in ("account_age", "claim_latency"):
        item["threshold"] = draw(st.sampled_from([0.5, 1.0, 5.0]))
        del item["event"]
        return item
    item["key"] = draw(st.sampled_from(keys))
    if kind in ("blocklist", "allowlist"):
        return item
    item.update(window_s=draw(WINDOWS), threshold=draw(THRESHOLDS), per_stock=draw(st.booleans()))
    if kind == "distinct":
        item["distinct"] = draw(st.sampled_from([k for k in keys if k != item["key"]]))
    if kind in ("small_orders", "threshold_hugging"):
        item["amount_fen"] = draw(st.sampled_from([1, 500, 5000]))
    return item


@st.composite
def _pack(draw: Any) -> list[dict[str, Any]]:
    """Random Rules, some with siblings: the same kind and key with another window and
    threshold (Rules sharing one window state, each counting its own window)."""
    items: list[dict[str, Any]] = draw(st.lists(_rule(), min_size=1, max_size=5))
    for item in list(items):
        if "window_s" in item and draw(st.booleans()):
            sibling = {**item, "window_s": draw(WINDOWS), "threshold": draw(THRESHOLDS)}
            items.append(sibling | draw(_action()))
    return items


def _maybe(draw: Any, prefix: str, n: int) -> str:
    index = draw(st.integers(-1, n - 1))
    return f"{prefix}{index}" if index >= 0 else ""


@st.composite
def _step(draw: Any) -> tuple[Any, ...]:
    dt = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.0, 2.0, 5.0, 10.0, 40.0, -3.0]))
    what = draw(st.sampled_from(["claim", "claim", "claim", "again", "again", "redeem", "list"]))
    customer = f"c{draw(st.integers(0, 5))}"
    if what == "claim":
        created = draw(st.sampled_from([None, 0.0, 0.5, 3.0, 50.0]))
        latency = draw(st.sampled_from([0.0, 0.3, 1.0, 3.0]))
        ids = {
            "device_id": _maybe(draw, "d", 3),
            "phone": _maybe(draw, "p", 3),
            "card": _maybe(draw, "k", 2),
            "id_hash": _maybe(draw, "h", 2),
            "ip": draw(st.sampled_from(IPS)),
            "stock_id": draw(STOCKS),
        }
        return ("claim", dt, customer, ids, created, latency)
    if what == "again":  # the customer's latest identifiers again, from another IP maybe
        created = draw(st.sampled_from([None, 0.0, 50.0]))
        ids = {"ip": draw(st.sampled_from(IPS)), "stock_id": draw(STOCKS)}
        return ("again", dt, customer, ids, created, 3.0)
    if what == "redeem":
        total = draw(st.sampled_from([100, 4999, 5000, 20000, 20100, 20500, 20501, 30000]))
        ids = {"device_id": _maybe(draw, "d", 3), "ip": draw(st.sampled_from(IPS))}
        threshold = draw(st.sampled_from([0, 20000]))
        return ("redeem", dt, customer, ids, total, threshold, draw(STOCKS))
    kind = draw(st.sampled_from(CLAIM_KEYS))
    value = draw(st.sampled_from([customer, "d0", "p1", "k0", "10.0.0.1", "10.0.0", "c0"]))
    return ("list", dt, draw(st.booleans()), kind, value, draw(st.sampled_from([1.0, 5.0, 1e9])))


def _canonical(verdict: RiskVerdict, fired: list[Firing] | tuple[Firing, ...]) -> tuple[Any, ...]:
    return (verdict.action, verdict.score, sorted(verdict.reasons), sorted(fired))


def _run(rules: Any, steps: list[tuple[Any, ...]]) -> None:
    fast = RiskEngine(rules, keep_log=True)
    slow = Reference(rules)
    now_s = 1000.0
    latest: dict[str, dict[str, str]] = {}  # each customer's identifiers, for "again"
    for number, step in enumerate(steps):
        now_s += step[1]
        request_id = f"r{number}"
        if step[0] in ("claim", "again"):
            _, _, customer, ids, created, latency = step
            if step[0] == "again":  # equal strings, not the same objects (as from a client)
                before = latest.get(customer, {})
                ids = {**{key: "".join(list(value)) for key, value in before.items()}, **ids}
            latest[customer] = {k: v for k, v in ids.items() if k not in ("ip", "stock_id")}
            created_s = None if created is None else now_s - created
            request = ClaimRequest(
                request_id, customer_id=customer, account_created_s=created_s, **ids
            )
            person = fast.person_of(request)
            assert person == slow.person_of(request), step
            got = fast.assess_claim(request, person, now_s - latency, now_s)
            want, fired = slow.claim(request, person, now_s - latency, now_s)
        elif step[0] == "redeem":
            _, _, customer, ids, total, threshold, stock_id = step
            lines = (OrderLine("l", total),)
            redemption = RedemptionRequest(request_id, "cp", customer, lines, **ids)
            coupon = Coupon("cp", stock_id, customer, 5000, 0.0, 1e12)
            got = fast.assess_redemption(redemption, coupon, threshold, now_s)
            want, fired = slow.redemption(redemption, threshold, now_s, stock_id)
        else:
            _list(fast, slow, step, now_s)
            continue
        assert _canonical(got, fast.records[-1].fired) == _canonical(want, fired), (number, step)


def _list(fast: RiskEngine, slow: Reference, step: tuple[Any, ...], now_s: float) -> None:
    _, _, is_block, kind, value, until = step
    for engine in (fast, slow):
        try:
            (engine.block if is_block else engine.allow)(kind, value, now_s + until)
        except Exception:  # no list Rule on this kind: both refuse (KeyError in the model)
            continue


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=_pack(),
    steps=st.lists(_step(), min_size=15, max_size=45),
)
def test_the_engine_decides_like_the_reference_model(
    items: list[dict[str, Any]], steps: list[tuple[Any, ...]]
) -> None:
    rules = rules_from_dicts([{"id": f"r{i}", **item} for i, item in enumerate(items)])
    _run(rules, steps)


def test_many_groups_on_one_key_use_the_overflow_slots() -> None:
    """Five groups keyed by device: w0, w1, then wx[0..2] (count, distinct in wx, both kinds)."""
    distinct = {"kind": "distinct", "key": "device"}
    items = [
        {"kind": "count", "key": "device", "window_s": 5, "threshold": 2},
        {**distinct, "distinct": "customer", "window_s": 5, "threshold": 1},
        {**distinct, "distinct": "ip", "window_s": 2, "threshold": 1},
        {**distinct, "distinct": "phone", "window_s": 10, "threshold": 0},
        {**distinct, "distinct": "card", "window_s": 10, "threshold": 2},
    ]
    rules = rules_from_dicts(
        [{"id": f"r{n}", "action": "review", **x} for n, x in enumerate(items)]
    )
    assert "wx[2]" in RiskEngine(rules).source("claim")
    steps: list[tuple[Any, ...]] = []
    for i in range(40):
        ids = {
            "device_id": f"d{i % 2}",
            "phone": f"p{i % 3}",
            "card": f"k{i % 4}",
            "ip": IPS[i % 4],
            "stock_id": "st"[i % 2],
            "id_hash": "",
        }
        steps.append(("claim", [0.0, 1.0, 2.5][i % 3], f"c{i % 5}", ids, None, 3.0))
    _run(rules, steps)
