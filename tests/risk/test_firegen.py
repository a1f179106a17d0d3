"""The generated fire functions of Rule groups do what the generic ones of windows.py do, and
the Firings they take are the ones the generic path formats."""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from risk_helpers import rule

from engine.risk.decide import Firing
from engine.risk.firegen import count_source, distinct_source
from engine.risk.identity import Windowed
from engine.risk.plan import group_of
from engine.risk.windows import MEMO, Firings, Group, count_fire, distinct_fire, distinct_since

WINDOWS = st.sampled_from([1.0, 2.5, 5.0, 10.0])
THRESHOLDS = st.sampled_from([0, 1, 1.5, 2, 3, 40])  # 40: a cap above MIN_CAP (82)


def _group(kind: str, rules: list[tuple[float, float]]) -> Group:
    extra = {"distinct": "customer", "key": "device"} if kind == "distinct" else {"key": "ip"}
    return group_of(
        [
            rule(id=f"r{i}", kind=kind, window_s=w, threshold=t, action="review", **extra)
            for i, (w, t) in enumerate(rules)
        ]
    )


def _compiled(kind: str, group: Group) -> Any:
    namespace: dict[str, Any] = {"bisect_right": bisect_right, "distinct_since": distinct_since}

    def bind(name: str, value: object) -> str:
        namespace[name] = value
        return name

    source = (count_source if kind == "count" else distinct_source)("fire", group, bind)
    exec(compile(source, "<test>", "exec"), namespace)
    return namespace["fire"]


GROUPS = st.lists(st.tuples(WINDOWS, THRESHOLDS), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(rules=GROUPS, gaps=st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5, 7.0]), max_size=200))
def test_a_generated_count_fire_trims_and_fires_like_count_fire(
    rules: list[tuple[float, float]], gaps: list[float]
) -> None:
    group = _group("count", rules)
    fire = _compiled("count", group)
    stamps, now_s = [0.0], 0.0
    for gap in gaps:
        now_s += gap
        stamps.append(now_s)
        generic, mine = list(stamps), list(stamps)
        want: list[Firing] = []
        got: list[Firing] = []
        count_fire(generic, now_s, group, want)
        fire(mine, now_s, got)
        assert (mine, got) == (generic, want)
        stamps = mine


@settings(max_examples=150, deadline=None)
@given(
    rules=GROUPS,
    steps=st.lists(st.tuples(st.integers(0, 90), st.sampled_from([0.0, 0.5, 2.5, 7.0])),
                   max_size=200),
)  # fmt: skip
def test_a_generated_distinct_fire_trims_and_fires_like_distinct_fire(
    rules: list[tuple[float, float]], steps: list[tuple[int, float]]
) -> None:
    group = _group("distinct", rules)
    fire = _compiled("distinct", group)
    identifiers = [Windowed() for _ in range(91)]
    seen: dict[Any, float] = {}
    now_s = 0.0
    for which, gap in steps:
        now_s += gap
        seen.pop(identifiers[which], None)
        seen[identifiers[which]] = now_s
        generic, mine = dict(seen), dict(seen)
        want: list[Firing] = []
        got: list[Firing] = []
        distinct_fire(generic, now_s, group, want)
        fire(mine, now_s, got)
        assert list(mine.items()) == list(generic.items()) and got == want
        seen = mine


def test_a_firing_is_formatted_once_per_count_and_shared() -> None:
    group = _group("count", [(10.0, 1)])
    firings: Firings = group.firings[0]
    first = firings.get(3) or firings.first(3)
    assert first == Firing("r0", False, "review", "r0: 3 > 1", 0.0)
    assert firings.get(3) is first  # the next Decision with a count of 3 shares it
    for count in range(2, 2 + 2 * MEMO):
        assert (firings.get(count) or firings.first(count)).detail == f"r0: {count} > 1"
    assert len(firings) == MEMO  # bounded, whatever the counts seen
