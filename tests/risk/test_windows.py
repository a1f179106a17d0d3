"""Sliding windows: exact edges, bounded per key, expired keys and node state dropped."""

from __future__ import annotations

from risk_helpers import assess, claim, engine_with, rule

from engine.requests import ClaimRequest
from engine.risk.decide import Firing
from engine.risk.identity import Node, Person, StockState, Windowed
from engine.risk.plan import group_of
from engine.risk.windows import (
    MIN_CAP,
    KeyTable,
    Sweep,
    cap_for,
    count_fire,
    count_since,
    distinct_fire,
    latest_s,
)
from engine.risk_gate import Action


def _group(*windows_and_thresholds: tuple[float, float]) -> object:
    rules = [
        rule(id=f"r{i}", kind="count", key="ip", window_s=w, threshold=t, action="review")
        for i, (w, t) in enumerate(windows_and_thresholds)
    ]
    return group_of(rules)


def test_an_event_leaves_the_window_exactly_window_s_later() -> None:
    group = _group((300, 1))
    fired: list[Firing] = []
    stamps = [1000.0, 1299.999, 1300.0]
    count_fire(stamps, 1300.0, group, fired)  # type: ignore[arg-type]
    assert stamps == [1299.999, 1300.0]  # 1300 - 300 is not < 1000: the first event has left
    assert [f.detail for f in fired] == ["r0: 2 > 1"]


def test_a_shorter_window_counts_the_tail_of_the_shared_state() -> None:
    group = _group((86_400, 3), (150, 1))
    fired: list[Firing] = []
    stamps = [0.0, 100.0, 200.0, 250.0]
    count_fire(stamps, 250.0, group, fired)  # type: ignore[arg-type]
    assert count_since(stamps, 250.0 - 150.0) == 2  # 200 and 250; 100 sits on the edge
    assert [f.detail for f in fired] == ["r0: 4 > 3", "r1: 2 > 1"]


def test_a_key_keeps_at_most_cap_events_and_still_reads_above_threshold() -> None:
    group = _group((86_400, 20))
    stamps = [float(i) for i in range(500)]
    fired: list[Firing] = []
    count_fire(stamps, 499.0, group, fired)  # type: ignore[arg-type]
    assert len(stamps) == cap_for(20) == MIN_CAP and stamps[-1] == 499.0
    assert [f.detail for f in fired] == [f"r0: {MIN_CAP} > 20"]


def test_distinct_expires_at_the_edge_and_keeps_the_newest_cap() -> None:
    group = group_of(
        [rule(id="d", kind="distinct", key="device", distinct="customer", window_s=100,
              threshold=1, action="review")]
    )  # fmt: skip
    a, b, c = Windowed(), Windowed(), Windowed()
    seen = {b: 10.0, a: 20.0, c: 110.0}
    fired: list[Firing] = []
    distinct_fire(seen, 110.0, group, fired)
    assert list(seen) == [a, c]  # b (10) leaves at 110 exactly
    assert [f.detail for f in fired] == ["d: 2 > 1"]
    many = {Windowed(): float(i) for i in range(200)}
    distinct_fire(many, 199.0, group, fired)
    assert len(many) == MIN_CAP and max(many.values()) == 199.0


def test_a_key_table_drops_keys_untouched_for_a_span_and_keeps_the_others() -> None:
    table = KeyTable(60.0)
    table.rotate(0.0)  # a generation from 0 to 60
    for i in range(1000):
        table.key(f"k{i}")
    late = table.key("late")
    table.rotate(61.0)  # every key moves to the older generation
    assert len(table) == 1001
    assert table.key("late") is late  # touched again: back in the current generation
    table.rotate(122.0)  # keys not touched since 61 are gone
    assert len(table) == 1 and table.current == {} and table.previous == {"late": late}


def test_the_sweep_clears_identity_state_with_no_event_in_the_last_span() -> None:
    sweep = Sweep(60.0)
    stale, fresh = Node(Person("a", 0)), Node(Person("b", 1))
    stale.w0 = 10.0  # the latest event: the newest entry of its slots
    fresh.w0, fresh.w1, fresh.t1 = [5.0, 50.0], Windowed(), 30.0
    sweep.held.extend([stale, fresh, fresh])  # fresh registered by two of its slots
    sweep.rotate(100.0)  # cutoff 40: stale's last event (10) has expired, fresh's (50) not
    assert (stale.w0, stale.w1) == (None, None) and fresh.w0 == [5.0, 50.0]
    assert sweep.held == [fresh] and len(sweep) == 1
    sweep.rotate(200.0)
    assert fresh.w0 is None and fresh.w1 is None and sweep.held == []


def test_the_latest_event_of_a_node_is_the_newest_entry_of_any_slot() -> None:
    """What the sweep reads: each slot's newest time, whatever it holds (integer times too)."""
    node, other = Node(Person("a", 0)), Windowed()
    assert latest_s(node) == -float("inf")  # no state
    node.w0 = 7  # a count's one event, at an integer time
    node.w1, node.t1 = other, 12.0  # a distinct count's one identifier, seen at 12
    assert latest_s(node) == 12.0
    node.wx = [[1.0, 30.0], (other, 20.0), {other: 5.0, node: 40.0}, None]
    assert latest_s(node) == 40.0  # the dict's last entry: the most recently seen
    node.wx[2] = {node: 40.0, other: 8.0}  # (never so: a dict is ordered by time) the last one
    assert latest_s(node) == 30.0


def test_identity_state_is_swept_within_two_spans_of_its_last_event() -> None:
    risk = engine_with(rule(id="dev", kind="distinct", key="device", distinct="customer",
                            window_s=60, threshold=1, action="review"))  # fmt: skip
    assess(risk, claim("b", device_id="other"), 0.0)  # the first generation: 0 to 60
    assess(risk, claim("a", device_id="d"), 30.0)
    node = risk.identity.resolve(claim("a", device_id="d"))[3]
    assert node is not None and node.w0 is not None and risk.window_keys() == 2
    assess(risk, claim("b", device_id="other"), 61.0)  # a pass: d's event (30) is still live
    assert node.w0 is not None
    assess(risk, claim("b", device_id="other"), 121.0)  # the next: 30 <= 121 - 60, cleared
    assert node.w0 is None and risk.window_keys() == 1  # only "other" is held
    assert assess(risk, claim("c", device_id="d"), 122.0).action is Action.PASS


def test_windows_never_go_back_when_the_clock_steps_back() -> None:
    risk = engine_with(rule(id="ip", kind="count", key="ip", window_s=10, threshold=1,
                            action="reject"))  # fmt: skip
    assert assess(risk, claim(ip="1.1.1.1"), 100.0).action is Action.PASS
    # The clock steps back 5 s: the event is stamped 100 (the latest seen), not 95 …
    assert assess(risk, claim(ip="1.1.1.1"), 95.0).reasons == ("ip: 2 > 1",)
    # … so at 109.5 both are still in the window (an event stamped 95 would have left).
    assert assess(risk, claim(ip="1.1.1.1"), 109.5).reasons == ("ip: 3 > 1",)
    assert assess(risk, claim(ip="1.1.1.1"), 110.0).reasons == ("ip: 2 > 1",)


def test_a_distinct_window_expires_exactly_at_its_edge() -> None:
    risk = engine_with(
        rule(id="dev", kind="distinct", key="device", distinct="customer", window_s=60,
             threshold=1, action="reject"),
    )  # fmt: skip
    assert assess(risk, claim("a", device_id="d"), 0.0).action is Action.PASS
    assert assess(risk, claim("b", device_id="d"), 59.75).reasons == ("dev: 2 > 1",)
    assert assess(risk, claim("c", device_id="d"), 60.0).reasons == ("dev: 2 > 1",)  # b, c
    assert assess(risk, claim("c", device_id="d"), 119.75).action is Action.PASS  # c only


def test_an_identifier_seen_again_is_counted_from_its_latest_sighting() -> None:
    risk = engine_with(
        rule(id="dev", kind="distinct", key="device", distinct="customer", window_s=5,
             threshold=1, action="reject"),
    )  # fmt: skip
    assess(risk, claim("a", device_id="d"), 0.0)
    assess(risk, claim("a", device_id="d"), 4.0)  # a again: last seen 4, not 0
    assert assess(risk, claim("b", device_id="d"), 6.0).reasons == ("dev: 2 > 1",)
    assess(risk, claim("b", device_id="e"), 10.0)  # the same in a dict of identifiers
    assess(risk, claim("c", device_id="e"), 11.0)
    assess(risk, claim("b", device_id="e"), 15.5)
    assert assess(risk, claim("x", device_id="e"), 18.0).reasons == ("dev: 2 > 1",)  # b, x


def test_a_key_in_one_stock_holds_its_state_alone_and_a_dict_from_the_second() -> None:
    """Per-stock state on an identity node: one StockState (no dict), then a dict of both."""
    risk = engine_with(rule(id="pc", kind="count", key="person", window_s=60, threshold=1,
                            action="review", per_stock=True))  # fmt: skip
    assess(risk, claim("a"), 0.0)
    person = risk.identity.resolve(claim("a"))[5]
    alone = person.ps
    assert isinstance(alone, StockState) and alone.stock_id == "s1"
    assert assess(risk, claim("a"), 1.0).action is Action.REVIEW  # 2 claims of s1 > 1
    assert assess(risk, ClaimRequest("x1", "s2", "a"), 2.0).action is Action.PASS  # s2 apart
    assert isinstance(person.ps, dict) and person.ps == {"s1": alone, "s2": person.ps["s2"]}
    assert assess(risk, ClaimRequest("x2", "s2", "a"), 3.0).action is Action.REVIEW


def test_the_sweep_drops_a_stock_state_held_alone_once_expired() -> None:
    sweep = Sweep(60.0)
    node = Node(Person("a", 0))
    node.w0 = 90.0  # the node stays: an event in the last span
    node.ps = StockState("s1")
    node.ps.w0 = 10.0  # its one stock's latest event has expired at cutoff 40
    sweep.held.append(node)
    sweep.rotate(100.0)
    assert sweep.held == [node] and node.ps is None and node.w0 == 90.0


def test_a_customer_keeps_its_ip_state_only_while_it_is_the_current_one() -> None:
    """The IP state a customer keeps (its latest claim's) is used for the same IP in its
    table's current generation only; a dropped generation's states are cleared, so the one
    a customer still holds keeps no event."""
    risk = engine_with(rule(id="ip", kind="count", key="ip", window_s=60, threshold=1,
                            action="reject"))  # fmt: skip
    assess(risk, claim("a", ip="1.1.1.1"), 0.0)
    customer = risk.identity.resolve(claim("a", ip="1.1.1.1"))[1]
    first = customer.ip_state
    assert first is not None and customer.seen_ip == "1.1.1.1" and first.w0 == 0.0
    assert assess(risk, claim("b", ip="1.1.1.1"), 1.0).action is Action.REJECT  # shared state
    assert assess(risk, claim("c", ip="2.2.2.2"), 2.0).action is Action.PASS  # another IP
    assess(risk, claim("c", ip="2.2.2.2"), 61.0)  # a rotation: 1.1.1.1 in the old generation
    assess(risk, claim("c", ip="2.2.2.2"), 122.0)  # and dropped: its state cleared
    assert first.w0 is None and customer.ip_state is first  # still held, but empty
    assert assess(risk, claim("a", ip="1.1.1.1"), 123.0).action is Action.PASS  # counts anew
    assert customer.ip_state is not first and customer.ip_state is not None
    assert customer.ip_state.w0 == 123.0
    assert assess(risk, claim("b", ip="1.1.1.1"), 124.0).action is Action.REJECT
