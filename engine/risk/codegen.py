"""The hot path: one Python function per event kind, generated from the :class:`EventPlan`.

A decision must cost a few microseconds with a pack of 15 Rules, so the function that decides an
event is written out for the engine's Rules once, at construction: every group's fast path
inline, its constants bound by name, no loop over Rules and no method call per Rule. What is not
on the fast path — trimming expired entries and firing Rules (a function generated per group,
:mod:`~engine.risk.firegen`), list look-ups, the Decision — is called only when it has something
to do; lists, account age and claim latency are emitted by :mod:`~engine.risk.checkgen`, the
keys' states by :mod:`~engine.risk.keygen`. ``RiskEngine.source(event)`` returns the generated
text (the main function, then the groups' fire functions); ``tests/risk`` checks it against a
naive reference implementation.

Each snippet below is one template, filled with the names of one group: ``k`` the key's state
(``None`` when the request has no such identifier), ``ref`` the state's slot on it. The key of a
``per_stock`` group is ``ks_<kind>``, resolved first thing inside the group's guard
(:func:`~engine.risk.keygen.stock_state_lines`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from engine.requests import ClaimRequest, RedemptionRequest
from engine.risk.checkgen import ages_and_latencies, list_fire, lists
from engine.risk.decide import DecisionRecord, Firing, decide
from engine.risk.firegen import count_source, distinct_source
from engine.risk.identity import Identity, StockState
from engine.risk.keygen import (
    key_present,
    keys,
    local,
    on_identity,
    stock_state,
    stock_state_lines,
    subnet_of,
)
from engine.risk.plan import HUGGING, SMALL_ORDERS, CountSpec, DistinctSpec, EventPlan
from engine.risk.rules import Event, KeyKind
from engine.risk.windows import KeyTable, Sweep, distinct_since
from engine.risk_gate import PASS, Action, RiskVerdict

__all__ = ["Generated", "subnet_of"]

_FIELDS = {Event.CLAIM: ClaimRequest._fields, Event.REDEMPTION: RedemptionRequest._fields}
_SIGNATURE = {
    Event.CLAIM: "self, request, person_id, opened_s, now_s",
    Event.REDEMPTION: "self, request, coupon, threshold_fen, now_s",
}
# Every other name the generated function binds: no request field may be one of them.
_LOCALS = {
    *("self", "request", "person_id", "opened_s", "now_s", "coupon", "threshold_fen"),
    *("clock_s", "fired", "verdict", "st", "seen", "wx", "net", "total_fen", "resolved"),
    *("value", "age_s", "latency_s", *(f"k_{kind.value}" for kind in KeyKind)),
    *("sk", "ps", *(f"ks_{kind.value}" for kind in KeyKind)),
    *("type", "len", "stamps", "size", "count", "cutoff_s", "oldest"),  # and the fire functions'
}
assert ClaimRequest._fields[6] == RedemptionRequest._fields[5] == "ip"  # SUBNET reads ``ip``

# Windows see the latest time seen (never going back); generations end on time.
PROLOGUE = """\
clock_s = self._clock_s
if now_s > clock_s:
    self._clock_s = clock_s = now_s
if clock_s >= self._rotate_at_s:
    self._rotate(clock_s)
fired = []
"""
# ``type(x) is list``, not ``x.__class__``: CPython 3.11 specialises the call of type() and
# not the attribute. ``{second}`` fires a state that has just become two entries when that can
# already be above the lowest threshold (otherwise the line is left out).
COUNT = """\
if {guard}:
    st = {ref}
    if st is None:
        {ref} = clock_s{register}
    elif type(st) is list:
        st.append(clock_s)
        if len(st) > {low}:
            {fire}(st, clock_s, fired)
    else:
        {ref} = st = [st, clock_s]{second}
"""
COUNT_FROM_ONE = """\
if {guard}:
    st = {ref}
    if st is None:
        {ref} = st = [clock_s]{register}
    else:
        st.append(clock_s)
    {fire}(st, clock_s, fired)
"""
DISTINCT_IN_SLOT = """\
if {guard}:
    seen = {ref}
    if seen is {v}:
        {time} = clock_s
    elif seen is None:
        {ref} = {v}
        {time} = clock_s{register}
    elif type(seen) is dict:
        seen.pop({v}, None)
        seen[{v}] = clock_s
        if len(seen) > {low}:
            {fire}(seen, clock_s, fired)
    else:
        {ref} = seen = {{seen: {time}, {v}: clock_s}}{second}
"""
DISTINCT = """\
if {guard}:
    seen = {ref}
    if seen is None:
        {ref} = ({v}, clock_s){register}
    elif type(seen) is tuple:
        if seen[0] is {v}:
            {ref} = ({v}, clock_s)
        else:
            {ref} = seen = {{seen[0]: seen[1], {v}: clock_s}}{second}
    else:
        seen.pop({v}, None)
        seen[{v}] = clock_s
        if len(seen) > {low}:
            {fire}(seen, clock_s, fired)
"""
DISTINCT_FROM_ONE = """\
if {guard}:
    seen = {ref}
    if seen is None:
        {ref} = seen = {{}}{register}
    else:
        seen.pop({v}, None)
    seen[{v}] = clock_s
    {fire}(seen, clock_s, fired)
"""
# A review logged carries its record's index (RiskVerdict.record): RiskEngine.enforced updates
# that record, whatever was logged since (threads).
VERDICT = """\
verdict = decide(fired, self.review_score, self.reject_score) if fired else PASS
if self.keep_log:
    records = self.records
    if verdict[0] is REVIEW:
        verdict = new(Verdict, (REVIEW, verdict[1], verdict[2], len(records)))
    records.append(Record({request_id}, "{kind}", verdict.action, verdict.score, tuple(fired),
                          {value}))
return verdict
"""


class Generated:
    """The generated function of one :class:`EventPlan`, its source and the objects it uses."""

    def __init__(self, plan: EventPlan, identity: Identity, sweep: Sweep | None) -> None:
        self.plan = plan
        self.namespace: dict[str, Any] = {
            "bisect_right": bisect_right,
            "distinct_since": distinct_since,
            "list_fire": list_fire,
            "new": tuple.__new__,
            "Firing": Firing,
            "decide": decide,
            "subnet_of": subnet_of,
            "Record": DecisionRecord,
            "Verdict": RiskVerdict,
            "REVIEW": Action.REVIEW,
            "PASS": PASS,
            "identity": identity,
            "stock_state": stock_state,
            "StockState": StockState,
        }
        if sweep is not None:
            self.namespace["held_append"] = sweep.held.append
        self.tables: dict[KeyKind, KeyTable] = {}
        self.stock_tables: dict[KeyKind, KeyTable] = {}  # per-stock keys, by key kind
        self.event_fields = _FIELDS[plan.event]  # the request's fields
        self.lines: list[str] = []
        self.helpers: list[str] = []  # the groups' fire functions, after the main one
        self.fields: set[str] = set()  # the request's fields the function reads into locals
        self.source = self._build()
        code = compile(self.source, f"<risk plan: {plan.event}>", "exec")
        exec(code, self.namespace)  # our own text, built from a validated plan
        self.function: Callable[..., Any] = self.namespace[f"assess_{plan.event}"]

    def bind(self, name: str, value: object) -> str:
        """Put ``value`` in the function's namespace as ``name``."""
        assert name not in self.namespace, name
        self.namespace[name] = value
        return name

    def emit(self, text: str, indent: int = 1) -> None:
        self.lines.extend("    " * indent + line for line in text.splitlines())

    def _build(self) -> str:
        plan = self.plan
        fields = self.event_fields
        shadowed = (_LOCALS | set(self.namespace)) & set(fields)
        assert not shadowed, f"request fields shadow names of the hot path: {shadowed}"
        self.lines = []
        self.emit(PROLOGUE)
        keys(self)
        for spec in plan.counts:
            _count(self, spec)
        for distinct in plan.distincts:
            _distinct(self, distinct)
        lists(self)
        ages_and_latencies(self)
        value = "0" if plan.event is Event.CLAIM else "coupon.value_fen"
        self.emit(VERDICT.format(kind=plan.event, value=value, request_id=self.field("request_id")))
        head = [f"def assess_{plan.event}({_SIGNATURE[plan.event]}):"]
        return "\n".join([*head, *self._loads(fields), *self.lines, "", *self.helpers])

    def use(self, name: str) -> str:
        """Read the request's field ``name`` into the local of that name, at the top."""
        assert name in _FIELDS[self.plan.event], name
        self.fields.add(name)
        return name

    def field(self, name: str) -> str:
        """The expression of the request's field ``name`` where it is needed (lists, the log:
        what runs only sometimes reads its field itself)."""
        return f"request[{_FIELDS[self.plan.event].index(name)}]"

    def _loads(self, fields: tuple[str, ...]) -> list[str]:
        """The lines reading the fields used: one by one, or one unpacking when most are."""
        if len(self.fields) > len(fields) // 2:
            return [f"    ({', '.join(fields)},) = request"]
        return [
            f"    {name} = request[{i}]" for i, name in enumerate(fields) if name in self.fields
        ]


def _guard(generated: Generated, *kinds: KeyKind, per_stock: bool = False) -> str:
    """The condition that the request has every key of ``kinds`` (the first per stock when
    ``per_stock``: its presence, not its state, which the group resolves inside the guard)."""
    present = []
    for index, kind in enumerate(kinds):
        if per_stock and index == 0:
            present.append(key_present(generated, kind))
        elif not _always(generated, kind):
            present.append(f"{local(kind)} is not None")
    return " and ".join(p for p in present if p) or "True"


def _always(generated: Generated, kind: KeyKind) -> bool:
    """Whether every event has a ``kind`` key (a claim's customer and person)."""
    return generated.plan.event is Event.CLAIM and kind in (KeyKind.CUSTOMER, KeyKind.PERSON)


def _register(generated: Generated, kind: KeyKind, per_stock: bool = False) -> str:
    """The line registering a key whose slot just got state with the sweep (identity keys;
    per-stock keys live in key tables)."""
    if per_stock or not on_identity(generated, kind):
        return ""
    return f"\n        held_append({local(kind)})"


def _slot(
    generated: Generated, kind: KeyKind, slot: int, per_stock: bool = False
) -> tuple[str, str]:
    """(set-up lines, slot expression) of window slot ``slot`` on the ``kind`` key; a per-stock
    group's set-up resolves the key's state first."""
    k = local(kind, per_stock)
    resolve = stock_state_lines(generated, kind) if per_stock else ""
    if slot < 2:
        return resolve, f"{k}.w{slot}"
    extra = generated.plan.slots(kind, per_stock) - 2
    wx = f"wx = {k}.wx\nif wx is None:\n    wx = {k}.wx = [None] * {extra}\n"
    return resolve + wx, f"wx[{slot - 2}]"


def _count(generated: Generated, spec: CountSpec) -> None:
    fire = f"fire_{len(generated.helpers)}"
    generated.helpers.append(count_source(fire, spec.group, generated.bind))
    guard = _guard(generated, spec.key, per_stock=spec.per_stock)
    if spec.mode == SMALL_ORDERS:
        guard += f" and total_fen <= {spec.amount_fen}"
    elif spec.mode == HUGGING:
        guard += f" and 0 < threshold_fen <= total_fen <= threshold_fen + {spec.amount_fen}"
    setup, ref = _slot(generated, spec.key, spec.slot, spec.per_stock)
    low = int(spec.group.low)  # len(x) > low  <=>  len(x) > floor(low)
    template = COUNT if low >= 1 else COUNT_FROM_ONE
    text = template.format(
        guard=guard,
        ref=ref,
        low=low,
        fire=fire,
        register=_register(generated, spec.key, spec.per_stock),
        second=_second(fire, "st", low, 8),
    )
    _emit_guarded(generated, text, setup)


def _distinct(generated: Generated, spec: DistinctSpec) -> None:
    fire = f"fire_{len(generated.helpers)}"
    generated.helpers.append(distinct_source(fire, spec.group, generated.bind))
    setup, ref = _slot(generated, spec.key, spec.slot, spec.per_stock)
    in_slot = spec.slot < 2
    low = int(spec.group.low)  # len(x) > low  <=>  len(x) > floor(low)
    template = DISTINCT_FROM_ONE
    if low >= 1:
        template = DISTINCT_IN_SLOT if in_slot else DISTINCT
    text = template.format(
        guard=_guard(generated, spec.key, spec.value, per_stock=spec.per_stock),
        register=_register(generated, spec.key, spec.per_stock),
        v=local(spec.value),
        ref=ref,
        time=f"{local(spec.key, spec.per_stock)}.t{spec.slot}",
        low=low,
        fire=fire,
        second=_second(fire, "seen", low, 8 if in_slot else 12),
    )
    _emit_guarded(generated, text, setup)


def _second(fire: str, state: str, low: int, indent: int) -> str:
    """The call firing a state that has just become two entries, if two can fire."""
    return f"\n{' ' * indent}{fire}({state}, clock_s, fired)" if low < 2 else ""


def _emit_guarded(generated: Generated, text: str, setup: str) -> None:
    """Emit a group's snippet; ``setup`` goes first inside its ``if``."""
    head, _, body = text.partition("\n")
    generated.emit(head)
    if setup:
        generated.emit(setup, 2)
    generated.emit(body)
