"""Population segments of a scenario: who the customers are and how they behave.

Four kinds (``kind``):

* ``new`` — new card holders: exposure → claim → first purchase (the coupon use activates them);
* ``dormant`` — no card transaction for months: they respond to the campaign after a delay;
* ``regular`` — active customers with a baseline purchase process; a coupon pulls their next
  purchase forward or enlarges it to the threshold (when the customer then pays, after the
  discount, at most ``1 + max_stretch`` times the planned order: a higher threshold loses the
  customers whose orders are too small);
* ``wool_puller`` — rings of accounts over few devices and an IP pool that claim within seconds
  of each window opening and place orders hugging the threshold; no organic spend.

Without the campaign, new and dormant customers start spending on their own with
``organic_activation_probability`` (after ``organic_activation_delay``); spend after a first
coupon use counts as caused by the coupon within ``attribution_days`` only, and before the day
the customer would have started anyway. ``activity_by_hour`` is the segment's daily cycle.

Defaults are grounded in ``domain.md``: a receive-to-use gap of about 8 days (Alibaba O2O), and a
redemption intent of 6.5% (O2O: 6–7% of received coupons used within 15 days). Every key, its
default, its bounds and its meaning are listed in ``docs/scenarios.md``; :mod:`sim.segment_parse`
reads and checks a table. Everything is bounded (TIGER_STYLE), so that a typo cannot ask for a
population that does not fit in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sim.distributions import Dist

KINDS = ("new", "dormant", "regular", "wool_puller")
LEGIT_KEYS = frozenset(
    {
        "size",
        "exposure_probability",
        "claim_probability",
        "redemption_probability",
        "repeat_probability",
        "spike_share",
        "spike_delay",
        "claim_delay",
        "redeem_delay",
        "purchases_per_week",
        "activated_purchases_per_week",
        "amount",
        "topup",
        "max_stretch",
        "pull_forward_days",
        "new_customer",
        "ip_pool",
        "account_age",
        "organic_activation_probability",
        "organic_activation_delay",
        "attribution_days",
        "activity_by_hour",
    }
)
RING_KEYS = frozenset(
    {
        "rings",
        "accounts_per_ring",
        "devices_per_ring",
        "ips_per_ring",
        "participation",
        "claim_latency",
        "redeem_delay",
        "hug_fen",
        "account_age",
    }
)
COMMON_KEYS = frozenset({"name", "kind", "stocks"})

MAX_SEGMENT_SIZE = 100_000_000  # customers in one segment
MAX_EXPECTED_CLAIMERS = 10_000_000  # size × exposure × claim probability: SimPy processes
MAX_RING_ACCOUNTS = 1_000_000  # rings × accounts_per_ring
MAX_IPS_PER_RING = 65_536  # a ring's pool: at most 256 whole /24 subnets
MAX_FOLLOW_ON_PURCHASES = 10_000_000  # expected claimers × follow-on purchases per claimer
MAX_PURCHASES_PER_WEEK = 100.0
MAX_DAYS = 366.0  # pull_forward_days
MAX_TOPUP = 10.0

# IP addresses (sim.segment_run): every wool-puller ring of a scenario has its own /24 subnets
# inside 10.0.0.0/8 (as many whole ones as its pool needs); customers' addresses are spread over
# the rest of the IPv4 space, so no customer ever shares a subnet with a ring.
RING_NETWORK = 0x0A000000  # 10.0.0.0
RING_SUBNETS = 1 << 16  # the /24 subnets of 10.0.0.0/8: all the rings of a scenario share them
CUSTOMER_ADDRESSES = (1 << 32) - (1 << 24)  # IPv4 addresses outside 10.0.0.0/8

# per-kind defaults of the numeric behaviour keys. Organic activation: without any coupon, new
# card holders start using the card at some rate (domain.md's goal of an 85% activation rate
# *with* the campaign implies a substantial organic rate: 60% is this default's assumption), and
# a few dormant customers come back on their own (5%, an assumption).
RATE_DEFAULTS = {
    "new": {
        "purchases_per_week": 0.0,
        "activated_purchases_per_week": 0.5,
        "organic_activation_probability": 0.6,
    },
    "dormant": {
        "purchases_per_week": 0.0,
        "activated_purchases_per_week": 0.3,
        "organic_activation_probability": 0.05,
    },
    "regular": {
        "purchases_per_week": 1.0,
        "activated_purchases_per_week": 0.0,
        "organic_activation_probability": 0.0,
    },
}
# When organic activation happens, from the campaign start: new cards within weeks of arriving,
# dormant customers at any time of a quarter.
ACTIVATION_DELAY_DEFAULTS: dict[str, Any] = {
    "new": {"dist": "gamma", "shape": 1.5, "mean_days": 21},
    "dormant": {"dist": "uniform", "low_days": 0, "high_days": 90},
    "regular": {"dist": "uniform", "low_days": 0, "high_days": 90},
}
# Relative activity per local hour 00..23 (card payments: quiet 01:00-06:00, a lunch peak and an
# evening peak 18:00-21:00). An assumption with the shape of public mobile-payment traffic, not
# a published figure; a flat profile (24 equal numbers) switches the daily cycle off.
DEFAULT_ACTIVITY_BY_HOUR = (
    0.5, 0.25, 0.15, 0.1, 0.1, 0.15, 0.4, 0.9, 1.3, 1.5, 1.7, 1.9,
    2.1, 1.8, 1.5, 1.4, 1.5, 1.7, 2.0, 2.2, 2.2, 1.9, 1.3, 0.8,
)  # fmt: skip
MAX_ACTIVITY_WEIGHT = 1_000_000.0
LEGIT_DEFAULTS: dict[str, Any] = {
    "exposure_probability": 1.0,
    "claim_probability": 0.1,
    "redemption_probability": 0.065,
    "repeat_probability": 0.0,
    "spike_share": 0.3,
    "spike_delay": {"dist": "exponential", "mean_s": 120},
    "claim_delay": {"dist": "fixed", "value_s": 0},
    "redeem_delay": {"dist": "gamma", "shape": 1.5, "mean_days": 8},
    "amount": {"dist": "lognormal", "median_fen": 12000, "sigma": 0.9},
    "topup": 0.1,
    "max_stretch": 0.5,
    "pull_forward_days": 14.0,
    "attribution_days": 30.0,
}
RING_DEFAULTS: dict[str, Any] = {
    "rings": 5,
    "accounts_per_ring": 200,
    "devices_per_ring": 10,
    "ips_per_ring": 20,
    "participation": 0.9,
    "claim_latency": {"dist": "exponential", "mean_s": 3},
    "redeem_delay": {"dist": "exponential", "mean_s": 600},
    "hug_fen": 300,
    "account_age": {"dist": "uniform", "low_days": 0, "high_days": 7},
}


@dataclass(frozen=True)
class Segment:
    """One validated segment. Rates are per week, probabilities in 0..1, delays in seconds."""

    name: str
    kind: str
    stocks: tuple[str, ...]
    size: int
    exposure_probability: float = 1.0
    claim_probability: float = 0.1
    redemption_probability: float = 0.065
    repeat_probability: float = 0.0
    spike_share: tuple[tuple[str, float], ...] = ()  # (stock id, share) for each of ``stocks``
    spike_delay: Dist | None = None
    claim_delay: Dist | None = None
    redeem_delay: Dist | None = None
    purchases_per_week: float = 0.0
    activated_purchases_per_week: float = 0.0
    amount: Dist | None = None
    topup: float = 0.1
    max_stretch: float = 0.5
    pull_forward_days: float = 14.0
    new_customer: bool = False
    ip_pool: int = 1
    account_age: Dist | None = None
    organic_activation_probability: float = 0.0
    organic_activation_delay: Dist | None = None
    attribution_days: float = 30.0
    activity_by_hour: tuple[float, ...] = DEFAULT_ACTIVITY_BY_HOUR
    rings: int = 0
    accounts_per_ring: int = 0
    devices_per_ring: int = 1
    ips_per_ring: int = 1
    participation: float = 0.0
    claim_latency: Dist | None = None
    hug_fen: int = 0

    @property
    def is_ring(self) -> bool:
        """Whether this is a wool-puller segment (rings of accounts)."""
        return self.kind == "wool_puller"

    @property
    def subnets_per_ring(self) -> int:
        """The /24 subnets of 10.0.0.0/8 each ring's IP pool takes (rings; 0 otherwise)."""
        return -(-self.ips_per_ring // 256) if self.is_ring else 0

    @property
    def ring_subnets(self) -> int:
        """The /24 subnets of 10.0.0.0/8 the segment's rings take together (0: customers)."""
        return self.rings * self.subnets_per_ring

    def spike_share_of(self, stock_id: str) -> float:
        """The share of this segment's attempts at ``stock_id`` that come in the opening spike."""
        return dict(self.spike_share).get(stock_id, 0.0)

    def scaled(self, factor: float) -> Segment:
        """The same segment with ``factor`` times the customers (rings: fewer accounts)."""
        if self.is_ring:
            accounts = max(1, round(self.accounts_per_ring * factor))
            return replace(self, accounts_per_ring=accounts, size=self.rings * accounts)
        size = round(self.size * factor)
        return replace(self, size=size, ip_pool=max(1, round(self.ip_pool * factor)))


def resolved_segment(table: Mapping[str, Any], segment: Segment) -> dict[str, Any]:
    """The segment table with every default written out (for the resolved scenario)."""
    keys = RING_KEYS if segment.is_ring else LEGIT_KEYS
    out: dict[str, Any] = {
        "name": segment.name,
        "kind": segment.kind,
        "stocks": list(segment.stocks),
    }
    for key in sorted(keys):
        value = getattr(segment, key)
        if isinstance(value, Dist):
            value = value.to_dict()
        out[key] = list(value) if isinstance(value, tuple) else value
    if not segment.is_ring:
        shares = {share for _, share in segment.spike_share}
        out["spike_share"] = shares.pop() if len(shares) == 1 else dict(segment.spike_share)
        if not segment.spike_share:  # a segment without stocks
            out["spike_share"] = LEGIT_DEFAULTS["spike_share"]
    return out
