"""The default rule pack: starting thresholds from design.md, to be tuned by the simulation.

Nebula's shipped templates give the first four, in design.md's words: more than 2 accounts per
device a day, more than 5 accounts per IP in 5 minutes, more than 20 per IP a day, more than 5
small orders per hour per device. They count *accounts* (distinct customers), not claims: one
customer claiming every stock of a multi-coupon pack from home is one account. The others cover
the rest of the ring's playbook (shared phones and cards, IP pools and hopping, fresh accounts,
bots at the opening second, orders hugging the 满减 threshold) plus the block and allow lists.

Scope, decided Rule by Rule: Rules counting accounts or identifiers are campaign-wide (a ring's
accounts are the same accounts whichever stock they claim); the two Rules counting one person's
*events* — claims a day, orders hugging a threshold — count per stock (``per_stock``), so a
customer claiming or redeeming a pack of four stocks counts once per stock, not four times.
docs/risk.md has the table.
"""

from __future__ import annotations

from typing import Any

from engine.risk.rules import Rule, rules_from_dicts

DAY_S = 86_400
HOUR_S = 3_600

_PACK: tuple[dict[str, Any], ...] = (
    {"id": "device_accounts_1d", "kind": "distinct", "key": "device", "distinct": "customer",
     "window_s": DAY_S, "threshold": 2, "action": "reject",
     "description": "more than 2 accounts claimed from one device in a day"},
    {"id": "ip_accounts_5m", "kind": "distinct", "key": "ip", "distinct": "customer",
     "window_s": 300, "threshold": 5, "action": "review",
     "description": "more than 5 accounts claiming from one IP in 5 minutes"},
    {"id": "ip_accounts_1d", "kind": "distinct", "key": "ip", "distinct": "customer",
     "window_s": DAY_S, "threshold": 20, "action": "reject",
     "description": "more than 20 accounts claiming from one IP in a day"},
    {"id": "small_orders_1h", "kind": "small_orders", "key": "device", "window_s": HOUR_S,
     "threshold": 5, "amount_fen": 5000, "action": "reject",
     "description": "more than 5 redemptions of at most 50 yuan from one device in an hour"},
    {"id": "ip24_accounts_1h", "kind": "distinct", "key": "ip24", "distinct": "customer",
     "window_s": HOUR_S, "threshold": 100, "action": "score", "points": 30,
     "description": "more than 100 accounts claiming from one /24 subnet in an hour (IP pools)"},
    {"id": "phone_accounts_1d", "kind": "distinct", "key": "phone", "distinct": "customer",
     "window_s": DAY_S, "threshold": 1, "action": "score", "points": 40,
     "description": "more than one account claiming with one phone in a day"},
    {"id": "card_accounts_1d", "kind": "distinct", "key": "card", "distinct": "customer",
     "window_s": DAY_S, "threshold": 1, "action": "review",
     "description": "more than one account claiming with one card in a day"},
    {"id": "person_claims_1d", "kind": "count", "key": "person", "window_s": DAY_S,
     "threshold": 3, "per_stock": True, "action": "review",
     "description": "more than 3 claims of one stock by one natural person in a day"},
    {"id": "device_ips_1h", "kind": "distinct", "key": "device", "distinct": "ip",
     "window_s": HOUR_S, "threshold": 5, "action": "score", "points": 30,
     "description": "one device claiming from more than 5 IPs in an hour (IP hopping)"},
    {"id": "new_account_1d", "kind": "account_age", "threshold": DAY_S, "action": "score",
     "points": 30, "description": "account younger than a day"},
    {"id": "fast_claim_1s", "kind": "claim_latency", "threshold": 1.0, "action": "score",
     "points": 40, "description": "claim less than 1 s after the window opened (bots)"},
    {"id": "threshold_hugging_1d", "kind": "threshold_hugging", "key": "person",
     "window_s": DAY_S, "threshold": 2, "amount_fen": 500, "per_stock": True,
     "action": "review",
     "description": "more than 2 orders of one stock a day within 5 yuan above its threshold"},
    {"id": "blocklist_device", "kind": "blocklist", "key": "device", "action": "reject",
     "description": "device on the block list"},
    {"id": "blocklist_ip", "kind": "blocklist", "key": "ip", "action": "reject",
     "description": "IP on the block list"},
    {"id": "allowlist_customer", "kind": "allowlist", "key": "customer", "action": "allow",
     "description": "customer on the allow list (staff, verified VIPs)"},
)  # fmt: skip


def default_pack_dicts() -> list[dict[str, Any]]:
    """The default pack as TOML-friendly dicts (fresh copies; the caller may edit them)."""
    return [dict(rule) for rule in _PACK]


def default_pack() -> tuple[Rule, ...]:
    """The default pack of Rules (15 Rules, all enforced)."""
    return rules_from_dicts(default_pack_dicts(), "default_pack")
