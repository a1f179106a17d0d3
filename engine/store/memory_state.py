"""The state of one stock in the memory store: accounts, counters, ledger, and the outcomes of
its requests (request ids are scoped per stock: :func:`engine.store.base.scope_of`).

Only touched under the store's lock. :meth:`StockState.records` is the snapshot that
reconciliation replays, taken under that lock too.
"""

from __future__ import annotations

from engine.coupon import Coupon
from engine.errors import InvariantBroken, RequestConflict
from engine.ledger import MOVES, Account, LedgerEntry, Movement, StockStatus
from engine.outcomes import ClaimResult
from engine.rules import LimitKey, StockRules
from engine.stock import StockSpec
from engine.store.base import Request, Result, StockRecords

_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
_CLAIM_RESULT = ClaimResult
Outcomes = dict[str, tuple[Request, Result]]  # request id -> (first request, its outcome)


class StockState:
    """Mutable counters of one stock, and the first outcome of each of its request ids."""

    __slots__ = (
        "available_fen",
        "budget_fen",
        "coupon_ids",
        "expired",
        "issued",
        "issued_by_day",
        "ledger",
        "limit_used",
        "outcomes",
        "persons",
        "redeemed",
        "reserved_by_day",
        "reserved_fen",
        "spec",
        "spent_fen",
        "stock_id",
    )

    def __init__(self, spec: StockSpec) -> None:
        self.spec = spec
        self.stock_id = spec.stock_id
        self.budget_fen = spec.budget_fen
        self.available_fen = spec.budget_fen
        self.reserved_fen = 0
        self.spent_fen = 0
        self.issued = 0
        self.redeemed = 0
        self.expired = 0
        self.issued_by_day: dict[int, int] = {}
        self.reserved_by_day: dict[int, int] = {}
        self.ledger: list[LedgerEntry] = []
        self.coupon_ids: list[str] = []
        self.outcomes: Outcomes = {}
        self.limit_used: dict[LimitKey, int] = {}
        self.persons: dict[str, str] = {}  # coupon id -> person (person-limited stocks only)

    def move(
        self, movement: Movement, amount_fen: int, request_id: str, coupon_id: str, at_s: float
    ) -> None:
        """Append a ledger entry and apply it to the accounts (amount 0 is skipped)."""
        if amount_fen == 0:
            return
        if amount_fen < 0:
            raise InvariantBroken(f"ledger movement {movement} of {amount_fen} fen")
        self.ledger.append(
            _new(LedgerEntry, (self.stock_id, movement, amount_fen, request_id, coupon_id, at_s))
        )
        source, target = _FIELDS[movement]
        if source:
            setattr(self, source, getattr(self, source) - amount_fen)
        else:
            self.budget_fen += amount_fen
        if target:
            setattr(self, target, getattr(self, target) + amount_fen)
        else:
            self.budget_fen -= amount_fen
        self.check_accounts(movement)

    def check_accounts(self, after: str) -> None:
        """Invariant 2: the accounts are never negative and always sum to the budget."""
        available, reserved, spent = self.available_fen, self.reserved_fen, self.spent_fen
        if (
            available < 0
            or reserved < 0
            or spent < 0
            or available + reserved + spent != (self.budget_fen)
        ):
            raise InvariantBroken(
                f"stock {self.stock_id} after {after}: available {available} + reserved"
                f" {reserved} + spent {spent} vs budget {self.budget_fen}"
            )

    def count_limits(
        self, counts: tuple[int, ...], keys: tuple[LimitKey, ...], limit_used: tuple[int, ...]
    ) -> None:
        """Count one more claim on every limit key (``limit_used``: the counts read in this
        atomic step; each key names its limit's index, key[1]). Asserts invariant 1."""
        counters = self.limit_used
        for key in keys:
            index = key[1]
            used = limit_used[index]
            if used >= counts[index]:
                raise InvariantBroken(f"limit {key} used {used + 1} times, over {counts[index]}")
            counters[key] = used + 1

    def count_day(self, rules: StockRules, day: int, value_fen: int) -> None:
        """Count one more coupon of ``value_fen`` on local day ``day``. Asserts invariant 1."""
        issued_today = self.issued_by_day.get(day, 0) + 1
        reserved_today = self.reserved_by_day.get(day, 0) + value_fen
        if (rules.daily_quota is not None and issued_today > rules.daily_quota) or (
            rules.daily_budget_fen is not None and reserved_today > rules.daily_budget_fen
        ):
            raise InvariantBroken(f"stock {self.stock_id} over its daily quota or budget")
        self.issued_by_day[day] = issued_today
        self.reserved_by_day[day] = reserved_today

    def status(self) -> StockStatus:
        return StockStatus(
            self.stock_id,
            self.budget_fen,
            self.available_fen,
            self.reserved_fen,
            self.spent_fen,
            self.issued,
            self.redeemed,
            self.expired,
        )

    def issued_claims(self) -> list[tuple[Request, Coupon]]:
        """Each issued claim (in issue order: outcomes keep their insertion order) with the
        coupon as issued."""
        return [
            (request, result.coupon)
            for request, result in self.outcomes.values()
            if result.__class__ is _CLAIM_RESULT and result.coupon is not None
        ]

    def daily_usage(self) -> dict[int, tuple[int, int]]:
        """Local day -> (coupons issued, fen reserved); kept only for stocks with a daily quota
        or budget (the others never read them)."""
        reserved = self.reserved_by_day
        return {day: (issued, reserved.get(day, 0)) for day, issued in self.issued_by_day.items()}

    def records(self, coupons: dict[str, Coupon]) -> StockRecords:
        """Every record reconciliation replays, copied (call under the store's lock);
        ``coupons`` is the store's coupon table (coupon id -> coupon as it is now)."""
        return StockRecords(
            self.status(),
            tuple(self.ledger),
            tuple([coupons[coupon_id] for coupon_id in self.coupon_ids]),
            tuple(self.issued_claims()),  # type: ignore[arg-type]
            dict(self.limit_used),
            self.daily_usage(),
            dict(self.persons),
        )


# The attribute of each account ("" for the outside funding account, mirrored in budget_fen:
# funding = -budget), and the (source, target) attributes of each movement, from ledger.MOVES.
_ACCOUNT_FIELD = {
    Account.FUNDING: "",
    Account.AVAILABLE: "available_fen",
    Account.RESERVED: "reserved_fen",
    Account.SPENT: "spent_fen",
}
_FIELDS = {
    movement: (_ACCOUNT_FIELD[source], _ACCOUNT_FIELD[target])
    for movement, (source, target) in MOVES.items()
}


def replay(outcomes: Outcomes, request: Request) -> Result | None:
    """The first outcome of ``request``'s id in ``outcomes``; :class:`RequestConflict` when
    the id was used by another request."""
    entry = outcomes.get(request.request_id)
    if entry is None:
        return None
    first, result = entry
    if first.__class__ is not request.__class__ or first != request:
        raise RequestConflict(request.request_id)
    return result
