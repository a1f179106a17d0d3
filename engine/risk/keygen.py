"""The keys of the hot path: where each key kind's window state is, emitted into the generated
function (:mod:`engine.risk.codegen`).

``k_<kind>`` is a key's state for the Rules counting across stocks: on the claim's identity
nodes (customers, phones, devices, cards, persons: :meth:`Identity.resolve`), else in a
:class:`~engine.risk.windows.KeyTable` by the key's string (IPs, subnets, every key of the
redemption stream; a claim's IP through its customer's node, :data:`IP_STATE`). ``ks_<kind>``
is a key's state for ``per_stock`` Rules, resolved inside the group's guard, so an event the
group does not count creates no state: on a claim's identity node, in the node's ``ps`` — its
one :class:`~engine.risk.identity.StockState`, or a dict stock id → state once the key is seen
in two stocks (:func:`stock_state`) — which the sweep expires with the node; else in a key
table by ``(stock id, key string)``.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import TYPE_CHECKING

from engine.risk.checkgen import STRING
from engine.risk.identity import StockState, Windowed
from engine.risk.plan import IDENTITY_KINDS, EventPlan
from engine.risk.rules import Event, KeyKind
from engine.risk.windows import KeyTable

if TYPE_CHECKING:
    from engine.risk.codegen import Generated

# Where Identity.resolve puts each identity kind.
RESOLVED = {KeyKind.CUSTOMER: 1, KeyKind.PHONE: 2, KeyKind.DEVICE: 3, KeyKind.CARD: 4}

TABLE_KEY = """\
if {s}:
    {k} = {table}.current.get({s}) or {table}.key({s})
else:
    {k} = None
"""
NET = 'net = ip.rpartition(".")[0] if "." in ip else subnet_of(ip)'
# A claim's IP state: the one its customer's latest claim came from, kept on the customer
# while it is in its table's current generation and the IP is the same (a customer claims
# from one network at a time) — one look-up by the IP's string saved, a cache miss or three.
IP_STATE = """\
k_ip = k_customer.ip_state
if k_ip is None or k_ip.generation != {ips}.generation or k_customer.seen_ip != ip:
    k_ip = k_customer.ip_state = {ips}.current.get(ip) or {ips}.key(ip)
    k_customer.seen_ip = ip
"""
LOOKUP = "k_ip = {ips}.current.get(ip) or {ips}.key(ip)\n"
# The subnet's state from the IP's (``link``) while it is in its table's current generation —
# what the look-up by the subnet's string would return — else looked up and linked again.
SUBNET = """\
if ip:
{ip_state}    k_ip24 = k_ip.link
    if k_ip24 is None or k_ip24.generation != {nets}.generation:
        net = ip.rpartition(".")[0] if "." in ip else subnet_of(ip)
        k_ip24 = k_ip.link = ({nets}.current.get(net) or {nets}.key(net)) if net else None
else:
    k_ip = k_ip24 = None
"""
# A per-stock state on an identity node: the node's only one (no dict: a key seen in one
# stock, the common case), else made (the node registered with the sweep on its first
# per-stock event) or found in its dict by :func:`stock_state`.
NODE_STOCK = """\
ps = {node}.ps
if type(ps) is StockState and ps.stock_id == stock_id:
    {k} = ps
else:
    if ps is None:
        held_append({node})
    {k} = stock_state({node}, stock_id)
"""
# A per-stock state in a key table: ``stock_id`` is the claim's stock, or the redeemed coupon's.
TABLE_STOCK = """\
sk = (stock_id, {s})
{k} = {table}.current.get(sk) or {table}.key(sk)
"""


def subnet_of(ip: str) -> str:
    """The /24 of an IPv4 address (``10.1.2``, the fast path: no parsing); the /48 of an IPv6
    one in canonical form (``2001:db8::1`` and ``2001:0db8:0:1::1`` are both ``2001:db8::/48``);
    "" for anything else (an unparsable IPv6 address, no address)."""
    if "." in ip:
        return ip.rpartition(".")[0]
    if ":" in ip:
        return _subnet_v6(ip)
    return ""


@functools.lru_cache(maxsize=65_536)  # bounded: ipaddress costs microseconds per parse
def _subnet_v6(ip: str) -> str:
    try:
        return str(ipaddress.IPv6Network((ip, 48), strict=False))
    except ValueError:
        return ""


def stock_state(node: Windowed, stock_id: str) -> StockState:
    """The state of ``stock_id`` on ``node`` when it is not the node's only one (the hot path's
    miss): found in the node's dict, else made — alone, or in a dict with the others."""
    states = node.ps
    if type(states) is dict:
        state = states.get(stock_id)
        if state is None:
            state = states[stock_id] = StockState(stock_id)
        return state
    state = StockState(stock_id)
    if states is None:
        node.ps = state
    else:  # held alone, another stock's state: both go in a dict
        assert isinstance(states, StockState)
        node.ps = {states.stock_id: states, stock_id: state}
    return state


def local(kind: KeyKind, per_stock: bool = False) -> str:
    return f"ks_{kind.value}" if per_stock else f"k_{kind.value}"


def on_identity(generated: Generated, kind: KeyKind) -> bool:
    """Whether ``kind``'s state lives on the identity graph (claims) or in a key table."""
    return generated.plan.event is Event.CLAIM and kind in IDENTITY_KINDS


def keys(generated: Generated) -> None:
    """Bind ``k_<kind>`` to the state of every key kind the groups across stocks use, and
    prepare what the per-stock groups resolve their ``ks_<kind>`` from."""
    plan = generated.plan
    if plan.event is Event.REDEMPTION:
        if plan.counts and any(spec.mode for spec in plan.counts):
            generated.emit("total_fen = request.total_fen")
        if KeyKind.PERSON in plan.kinds():
            customer_id = generated.use("customer_id")
            generated.emit(f"person_id = identity.person_of_customer({customer_id})")
    linked = _subnet_linked(plan)
    if KeyKind.IP24 in plan.spans and not linked:
        generated.use("ip")
        generated.emit(NET)
    _resolve(generated)
    for kind in plan.spans:
        if on_identity(generated, kind) or (linked and kind is KeyKind.IP24):
            continue
        table = _table(generated, kind)
        string = STRING[kind]  # a field, or a local (person_id, net)
        if string in generated.event_fields:
            generated.use(string)
        if kind is KeyKind.IP:
            _ip_key(generated, table, linked)
        else:
            generated.emit(TABLE_KEY.format(s=string, k=local(kind), table=table))
    _stock_keys(generated, net_ready=KeyKind.IP24 in plan.spans and not linked)


def _ip_key(generated: Generated, table: str, linked: bool) -> None:
    """Bind ``k_ip`` (through the customer's cache on claims), and ``k_ip24`` when linked."""
    ip_state = (IP_STATE if generated.plan.event is Event.CLAIM else LOOKUP).format(ips=table)
    indented = "".join(f"    {line}\n" for line in ip_state.splitlines())
    if linked:
        nets = _table(generated, KeyKind.IP24)
        generated.emit(SUBNET.format(ip_state=indented, nets=nets))
    else:
        generated.emit(f"if ip:\n{indented}else:\n    k_ip = None\n")


def _stock_keys(generated: Generated, net_ready: bool) -> None:
    """The stock id, the strings the per-stock keys need, their key tables; ``ks_<kind> =
    None`` first for a kind that several groups resolve lazily (:func:`stock_state_lines`)."""
    plan = generated.plan
    if not plan.stock_spans:
        return
    if plan.event is Event.CLAIM:
        generated.use("stock_id")
    else:
        generated.emit("stock_id = coupon.stock_id")
    for kind, span_s in plan.stock_spans.items():
        string = STRING[kind]
        if string in generated.event_fields:
            generated.use(string)
        if kind is KeyKind.IP24 and not net_ready:
            generated.use("ip")
            generated.emit(NET)
        if not on_identity(generated, kind):
            generated.stock_tables[kind] = KeyTable(span_s)
            generated.bind(f"stock_table_{kind.value}", generated.stock_tables[kind])
        if plan.slots(kind, per_stock=True) > 1:
            generated.emit(f"{local(kind, True)} = None")


def stock_state_lines(generated: Generated, kind: KeyKind) -> str:
    """The lines binding ``ks_<kind>``, for the inside of a per-stock group's guard (which has
    checked that the event has the key); lazy when several groups of the kind share it."""
    k = local(kind, True)
    if on_identity(generated, kind):
        text = NODE_STOCK.format(node=local(kind), k=k)
    else:
        text = TABLE_STOCK.format(s=STRING[kind], k=k, table=f"stock_table_{kind.value}")
    if generated.plan.slots(kind, per_stock=True) > 1:
        indented = "".join(f"    {line}\n" for line in text.splitlines())
        text = f"if {k} is None:\n{indented}"
    return text


def key_present(generated: Generated, kind: KeyKind) -> str | None:
    """The condition that the event has a ``kind`` key (None: every event has one)."""
    if generated.plan.event is Event.CLAIM and kind in (KeyKind.CUSTOMER, KeyKind.PERSON):
        return None
    return f"{local(kind)} is not None" if on_identity(generated, kind) else STRING[kind]


def _subnet_linked(plan: EventPlan) -> bool:
    """Whether the IP's state holds its subnet's (:data:`SUBNET`): when groups use both and no
    list needs the subnet's string."""
    lists = {item.key for item in plan.lists}
    return {KeyKind.IP, KeyKind.IP24} <= set(plan.spans) and KeyKind.IP24 not in lists


def _resolve(generated: Generated) -> None:
    """The claim's identity nodes, from the resolution :meth:`Identity.person_of` left (the
    nodes of per-stock groups too: their states hang on the nodes)."""
    plan = generated.plan
    kinds = [k for k in {**plan.spans, **plan.stock_spans} if on_identity(generated, k)]
    if plan.event is Event.CLAIM and KeyKind.IP in plan.spans and KeyKind.CUSTOMER not in kinds:
        kinds.append(KeyKind.CUSTOMER)  # the IP's state is cached on the customer (IP_STATE)
    if not kinds:
        return
    names = ["_"] * 6
    for kind in kinds:
        names[RESOLVED.get(kind, 5)] = local(kind)
    generated.emit("resolved = identity.last")
    generated.emit("if resolved[0] is not request:\n    resolved = identity.resolve(request)")
    generated.emit(f"({', '.join(names)}) = resolved")
    if KeyKind.PERSON in kinds:  # the caller's person is not ours: keyed by its id
        span_s = max(plan.spans.get(KeyKind.PERSON, 0.0), plan.stock_spans.get(KeyKind.PERSON, 0.0))
        table = _table(generated, KeyKind.PERSON, span_s)
        # ``is not`` first: the caller's id is our person's label object (person_of returned
        # it), and comparing by value would read the label, a cache miss per decision.
        generated.emit("if k_person.label is not person_id and k_person.label != person_id:")
        generated.emit(f"k_person = {table}.current.get(person_id) or {table}.key(person_id)", 2)


def _table(generated: Generated, kind: KeyKind, span_s: float | None = None) -> str:
    span = generated.plan.spans[kind] if span_s is None else span_s
    table = generated.tables[kind] = KeyTable(span)
    return generated.bind(f"table_{kind.value}", table)
