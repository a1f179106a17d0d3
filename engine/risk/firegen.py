"""The fire functions of Rule groups, generated with the group's constants.

When a key holds more entries than the lowest threshold of its group, the hot path calls the
group's fire function: it does what :func:`~engine.risk.windows.count_fire` and
:func:`~engine.risk.windows.distinct_fire` do (drop what has expired, keep at most ``cap``
entries, fire each Rule above its threshold), with the span, the cap, the thresholds and the
windows written in as literals — no attribute look-up, no loop over the Rules — and each Firing
taken from the Rule's :class:`~engine.risk.windows.Firings`. ``tests/risk/test_firegen.py`` checks
them against the generic functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from engine.risk.windows import Check, Group

# Binds a value in the generated code's namespace under a name; returns the name.
Bind = Callable[[str, object], str]

COUNT_HEAD = """\
def {name}(stamps, now_s, fired):
    if stamps[0] <= now_s - {span_s!r}:
        del stamps[:bisect_right(stamps, now_s - {span_s!r})]
    size = len(stamps)
    if size > {cap}:
        del stamps[:size - {cap}]
        size = {cap}
"""
DISTINCT_HEAD = """\
def {name}(seen, now_s, fired):
    cutoff_s = now_s - {span_s!r}
    while seen:
        oldest = next(iter(seen))
        if seen[oldest] > cutoff_s and len(seen) <= {cap}:
            break
        del seen[oldest]
    size = len(seen)
"""
WHOLE = """\
    if size > {threshold}:
        fired.append({firings}.get(size) or {firings}.first(size))
"""
PART = """\
    if size > {threshold}:
        count = {count}
        if count > {threshold}:
            fired.append({firings}.get(count) or {firings}.first(count))
"""
COUNT_SINCE = "size - bisect_right(stamps, now_s - {window_s!r})"
DISTINCT_SINCE = "distinct_since(seen, now_s - {window_s!r})"


def count_source(name: str, group: Group, bind: Bind) -> str:
    """The source of ``name(stamps, now_s, fired)``, the fire function of a count group."""
    head = COUNT_HEAD.format(name=name, span_s=group.span_s, cap=group.cap)
    return head + _checks(name, group, COUNT_SINCE, bind)


def distinct_source(name: str, group: Group, bind: Bind) -> str:
    """The source of ``name(seen, now_s, fired)``, the fire function of a distinct group."""
    head = DISTINCT_HEAD.format(name=name, span_s=group.span_s, cap=group.cap)
    return head + _checks(name, group, DISTINCT_SINCE, bind)


def _checks(name: str, group: Group, since: str, bind: Bind) -> str:
    """One block per Rule, in the group's order (the order of the Decision's reasons)."""
    blocks = []
    for index, (check, firings) in enumerate(zip(group.checks, group.firings, strict=True)):
        values = {"threshold": _floor(check), "firings": bind(f"{name}_{index}", firings)}
        if check.whole:
            blocks.append(WHOLE.format(**values))
        else:
            count = since.format(window_s=check.window_s)
            blocks.append(PART.format(count=count, **values))
    return "".join(blocks)


def _floor(check: Check) -> int:
    """The threshold as an int: for an integer count, count > t  <=>  count > floor(t)."""
    assert math.isfinite(check.threshold) and check.threshold >= 0, check
    return math.floor(check.threshold)
