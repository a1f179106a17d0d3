"""The checks of the hot path that keep no window: block and allow lists, account age, claim
latency — the part of the generated function (:mod:`engine.risk.codegen`) emitted here.

A list is looked up only while it has entries; its field is read from the request there and
then (``request[i]``). Account age and latency Rules build their Firing inline, the detail as
:func:`~engine.risk.decide.below` writes it (``fast_claim_1s: 0.3 s < 1 s``) with its constant
head and tail formatted once.
"""

from __future__ import annotations

from typing import Any, Protocol

from engine.risk.decide import below, listed
from engine.risk.plan import EventPlan
from engine.risk.rules import KeyKind
from engine.risk.windows import Check, fire


class Emitter(Protocol):
    """What the checks need of :class:`engine.risk.codegen.Generated`."""

    plan: EventPlan

    def bind(self, name: str, value: object) -> str: ...
    def emit(self, text: str, indent: int = 1) -> None: ...
    def use(self, name: str) -> str: ...
    def field(self, name: str) -> str: ...


# The local holding each key kind's string in the generated function.
STRING = {
    KeyKind.IP: "ip",
    KeyKind.IP24: "net",
    KeyKind.DEVICE: "device_id",
    KeyKind.PHONE: "phone",
    KeyKind.CARD: "card",
    KeyKind.CUSTOMER: "customer_id",
    KeyKind.PERSON: "person_id",
}
LIST = """\
if {table}:
    value = {s}
    if value:
        list_fire({table}, value, now_s, {check}, "{kind}", fired)
"""
# Account age and claim latency: the Firing built inline, its detail as below() writes it.
BELOW = """\
if {value} < {threshold!r}:
    fired.append(new(Firing, ({rule_id!r}, {shadow!r}, {action!r},
                              f"{{{head}}}{{{value}:.3g}}{{{tail}}}", {points!r})))
"""


def list_fire(
    table: dict[str, float], value: str, now_s: float, check: Any, kind: str, fired: list[Any]
) -> None:
    """Fire a list Rule if ``value`` is listed at ``now_s``; drop its entry once expired."""
    until_s = table.get(value)
    if until_s is None:
        return
    if now_s < until_s:
        fire(fired, check, listed(check.rule_id, kind, value, until_s))
    else:
        del table[value]  # expired: lists stay as small as their live entries


def lists(generated: Emitter) -> None:
    for index, item in enumerate(generated.plan.lists):
        table = generated.bind(f"list_{index}", item.table)
        check = generated.bind(f"list_check_{index}", item.check)
        value = _list_value(generated, item.key)
        generated.emit(LIST.format(table=table, s=value, check=check, kind=item.key.value))


def _list_value(generated: Emitter, kind: KeyKind) -> str:
    """The string a list of ``kind`` is looked up by."""
    if kind is KeyKind.PERSON:
        return "person_id"
    if kind is KeyKind.IP24 and KeyKind.IP24 in generated.plan.spans:
        return "net"
    if kind is KeyKind.IP24:
        return f"subnet_of({generated.field('ip')})"
    return generated.field(STRING[kind])


def ages_and_latencies(generated: Emitter) -> None:
    plan = generated.plan
    if plan.ages:
        generated.use("account_created_s")
        generated.emit("if account_created_s is not None:\n    age_s = now_s - account_created_s")
    for index, check in enumerate(plan.ages):
        generated.emit(_below(generated, f"age_{index}", "age_s", check), 2)
    if plan.latencies:
        generated.emit("latency_s = now_s - opened_s")
    for index, check in enumerate(plan.latencies):
        generated.emit(_below(generated, f"latency_{index}", "latency_s", check))


def _below(generated: Emitter, name: str, value: str, check: Check) -> str:
    """The block firing ``check`` when ``value`` is below its threshold; the detail is
    :func:`~engine.risk.decide.below`'s, its constant head and tail formatted once."""
    zero = below(check.rule_id, 0.0, check.threshold)  # "<id>: 0 s < <threshold> s"
    head = f"{check.rule_id}: "
    assert zero.startswith(f"{head}0 "), zero
    tail = zero[len(head) + 1 :]  # " s < <threshold> s"
    return BELOW.format(
        value=value,
        threshold=check.threshold,
        rule_id=check.rule_id,
        shadow=check.shadow,
        action=check.action,
        points=check.points,
        head=generated.bind(f"{name}_head", head),
        tail=generated.bind(f"{name}_tail", tail),
    )
