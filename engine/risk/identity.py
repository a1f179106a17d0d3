"""The natural person (自然人): the union of identifiers seen together.

Every claim links its customer id, phone, device, card and hashed ID card. Identifiers linked
directly or through a chain (customer A shares a phone with B, B shares a device with C) belong to
one natural person — the "同一用户" clauses of UnionPay and WeChat Pay. IPs are never linked: a
shared network says nothing about who is behind it.

The person id is the customer id that first appeared in the component, so a customer seen alone
is its own person (as with :class:`engine.risk_gate.CustomerIsPerson`) and a merge keeps the id of
the older component. A merge does not rewrite the past: limits counted under the younger id stay
where they were (one extra claim at most per merge).

Union-find over :class:`Node` objects with union by size and path halving: near O(1) per
identifier. The root of a component points to its :class:`Person`. One :class:`Person` object
stands for one person id for ever: when two components merge, the older person survives and the
younger one is dropped, exactly as if everything were keyed by the person id string. Nodes and
persons also carry the sliding-window state of the Rules keyed by them (``Windowed``), so the risk
engine looks each identifier up once per claim. The graph is not windowed — a natural person is
long-lived — so it grows with the distinct identifiers seen (measured in docs/risk.md).

The fast path: a customer's node (:class:`Customer`) remembers the identifiers of the latest claim
linked through it, and their nodes. A claim bringing exactly those again — the common case, the
same phone, device and card — skips their look-ups and links: each of them was linked into the
customer's component then, and components only ever merge, so the full walk would find every one
already there and link nothing. Only the shape of the trees (path halving) can differ, never a
root, a size or a person (``tests/risk/test_differential.py`` checks it against a naive model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.requests import ClaimRequest

if TYPE_CHECKING:
    from engine.risk.windows import Keyed

# person_of unpacks the request by position: refuse to import if the fields ever move.
_POSITIONS = ("customer_id", "device_id", "phone", "card", "ip", "id_hash")
assert ClaimRequest._fields[2:8] == _POSITIONS, ClaimRequest._fields


class Windowed:
    """Sliding-window state of one key: slots ``w0`` and ``w1`` (with the times ``t0``, ``t1``
    of a distinct count that holds one identifier) and the list ``wx`` for more Rule groups on
    the same key (see :mod:`engine.risk.windows`); ``ps``, the key's states for Rules counting
    per stock (stock id → :class:`Windowed`), made on the key's first per-stock event. The base
    of identity nodes, persons and the states of key tables.

    ``ps`` holds the states of one stock or of several: ``None``, one :class:`StockState` (the
    common case, a key seen in one stock: no dict to look up), or a dict stock id → state."""

    __slots__ = ("ps", "t0", "t1", "w0", "w1", "wx")

    def __init__(self) -> None:
        self.w0: Any = None
        self.w1: Any = None
        self.t0: float = 0.0
        self.t1: float = 0.0
        self.wx: list[Any] | None = None
        self.ps: StockState | dict[str, StockState] | None = None

    def clear(self) -> None:
        """Forget the window state (every event in it has expired), per stock too."""
        self.w0 = self.w1 = self.wx = self.ps = None


class StockState(Windowed):
    """The window state of one key in one stock (``per_stock`` Rules), held in the key's
    ``ps``; ``stock_id`` names the stock when it is held alone there."""

    __slots__ = ("stock_id",)

    def __init__(self, stock_id: str) -> None:
        self.w0 = self.w1 = self.wx = self.ps = None  # Windowed.__init__, inline (hot)
        self.t0 = self.t1 = 0.0
        self.stock_id = stock_id


class Person(Windowed):
    """A natural person: the record of one component. ``label`` is its person id (the oldest
    customer id), ``order`` when that customer first appeared, ``size`` the nodes it holds."""

    __slots__ = ("label", "order", "size")

    def __init__(self, label: str, order: int) -> None:
        self.w0 = self.w1 = self.wx = self.ps = None  # Windowed.__init__, inline (hot)
        self.t0 = self.t1 = 0.0
        self.label = label
        self.order = order
        self.size = 1


class Node(Windowed):
    """One identifier. ``parent`` is another node, or the component's person at a root."""

    __slots__ = ("parent",)

    def __init__(self, parent: Node | Person) -> None:
        self.w0 = self.w1 = self.wx = self.ps = None  # Windowed.__init__, inline (hot)
        self.t0 = self.t1 = 0.0
        self.parent = parent


class Customer(Node):
    """A customer id's node, with the device, phone, card and hashed ID card (``seen_*``) of the
    latest claim linked through it and the nodes of the first three (``*_node``; None for an
    absent identifier). Plain slots, not a tuple: the fast path compares them one by one.
    ``seen_ip`` and ``ip_state`` are the risk engine's: the IP of the customer's latest claim
    and that IP's window state (never linked: IPs are not identifiers of a person)."""

    __slots__ = (
        *("seen_device", "seen_phone", "seen_card", "seen_id"),
        *("phone_node", "device_node", "card_node"),
        *("seen_ip", "ip_state"),
    )

    def __init__(self, person: Person) -> None:
        self.w0 = self.w1 = self.wx = self.ps = None  # Windowed.__init__, inline (hot)
        self.t0 = self.t1 = 0.0
        self.parent: Node | Person = person
        self.seen_device: str | None = None  # None: no claim linked yet (never equals a str)
        self.seen_phone = self.seen_card = self.seen_id = ""
        self.phone_node: Node | None = None
        self.device_node: Node | None = None
        self.card_node: Node | None = None
        self.seen_ip = ""  # the IP of the latest claim and its state (engine.risk.keygen)
        self.ip_state: Keyed | None = None


# What :meth:`Identity.resolve` returns: the request, then its customer, phone, device and card
# nodes (None for an absent identifier), then its person.
Resolution = tuple[Any, Node, Node | None, Node | None, Node | None, Person]


class Identity:
    """Union-find over identifiers; deterministic for a given sequence of requests."""

    __slots__ = ("_cards", "_customers", "_devices", "_ids", "_phones", "last")

    def __init__(self) -> None:
        self._customers: dict[str, Customer] = {}
        self._phones: dict[str, Node] = {}
        self._devices: dict[str, Node] = {}
        self._cards: dict[str, Node] = {}
        self._ids: dict[str, Node] = {}
        self.last: Resolution = (None, *_NOBODY)  # the latest request linked

    def person_of(self, request: ClaimRequest) -> str:
        """Link the request's identifiers; the person id of their (merged) component."""
        (_, _, customer_id, device_id, phone, card, _, id_hash, _, _, _) = request
        customer = self._customers.get(customer_id)
        if customer is None:
            person = Person(customer_id, len(self._customers))
            customer = self._customers[customer_id] = Customer(person)
            owner = self._link_all(customer, device_id, phone, card, id_hash)
        elif (
            customer.seen_device == device_id
            and customer.seen_phone == phone
            and customer.seen_card == card
            and customer.seen_id == id_hash
        ):  # the fast path (module docstring): all of them are in the component already
            parent = customer.parent
            owner = parent if type(parent) is Person else _person(_root(customer))
        else:
            owner = self._link_all(customer, device_id, phone, card, id_hash)
        self.last = (
            request,
            customer,
            customer.phone_node,
            customer.device_node,
            customer.card_node,
            owner,
        )
        return owner.label

    def _link_all(
        self, customer: Customer, device_id: str, phone: str, card: str, id_hash: str
    ) -> Person:
        """Link the identifiers to the customer's component (phone, device, card, hashed ID
        card: the order decides which root survives a union); remember them on the customer."""
        root = _root(customer)
        root, customer.phone_node = self._link(self._phones, phone, root)
        root, customer.device_node = self._link(self._devices, device_id, root)
        root, customer.card_node = self._link(self._cards, card, root)
        root = self._link(self._ids, id_hash, root)[0]
        customer.seen_device, customer.seen_phone = device_id, phone
        customer.seen_card, customer.seen_id = card, id_hash
        return _person(root)

    def resolve(self, request: ClaimRequest) -> Resolution:
        """The nodes and person of ``request`` (linked by :meth:`person_of` if not yet)."""
        if self.last[0] is not request:
            self.person_of(request)
        return self.last

    def person_of_customer(self, customer_id: str) -> str:
        """The person of a known customer id, or the id itself; links nothing."""
        node = self._customers.get(customer_id)
        if node is None:
            return customer_id
        return _person(_root(node)).label

    def __len__(self) -> int:
        """Identifiers known (nodes of the graph)."""
        tables = (self._customers, self._phones, self._devices, self._cards, self._ids)
        return sum(len(table) for table in tables)

    @staticmethod
    def _link(nodes: dict[str, Node], value: str, root: Node) -> tuple[Node, Node | None]:
        """Link identifier ``value`` to the component of ``root``: (the new root, its node);
        an absent identifier ("") links nothing."""
        if not value:
            return root, None
        node = nodes.get(value)
        if node is None:
            nodes[value] = node = Node(root)
            _person(root).size += 1
        elif node.parent is not root:
            other = _root(node)
            if other is not root:
                root = _union(root, other)
        return root, node


def _root(node: Node) -> Node:
    """The root node of ``node``'s component (path halving)."""
    parent = node.parent
    while isinstance(parent, Node):
        grandparent = parent.parent
        if not isinstance(grandparent, Node):
            return parent
        node.parent = grandparent
        node, parent = grandparent, grandparent.parent
    return node


def _person(root: Node) -> Person:
    person = root.parent
    assert isinstance(person, Person), "not a root"
    return person


def _union(a: Node, b: Node) -> Node:
    """Merge two roots: the bigger tree stays root, the older person survives."""
    first, second = _person(a), _person(b)
    older = first if first.order < second.order else second
    if first.size < second.size:
        a, b = b, a
    b.parent = a
    a.parent = older
    older.size = first.size + second.size
    return a


_NOBODY_PERSON = Person("", -1)
_NOBODY: tuple[Node, None, None, None, Person] = (
    Node(_NOBODY_PERSON),
    None,
    None,
    None,
    _NOBODY_PERSON,
)
