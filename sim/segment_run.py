"""A segment during one replication: its sample, funnel flags, identities and organic purchases.

The agents (:mod:`sim.agents`) call these helpers once per claim attempt or coupon use, so they
work on plain Python values: everything numpy is converted once, up front, and whatever depends
only on the segment (names, ring sizes, the pull-forward span) is computed in ``__init__``. The
identifiers an attempt sends (customer, device, phone, card, IP) are derived from the customer's
index in the segment, so the same customer sends the same strings in every variant.

Incremental GMV has two parts, kept apart: ``order_delta_fen`` (coupon orders minus the organic
purchases they replace: extra and enlarged orders) and ``follow_on_fen`` (what a new or dormant
customer spends after a first use, within the attribution window and before the day they would
have started anyway).
"""

from __future__ import annotations

import socket
from array import array
from bisect import bisect_left

import numpy as np

from engine.requests import ClaimRequest
from sim.population import SegmentSample
from sim.segments import CUSTOMER_ADDRESSES, RING_NETWORK, RING_SUBNETS, Segment
from sim.units import DAY_S

_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
_ip_text = socket.inet_ntoa  # 4 bytes -> dotted quad, in C


_SPREAD = 2654435761  # Knuth's multiplier: coprime with CUSTOMER_ADDRESSES (2**24 × 3 × 5 × 17)
_RING_BLOCK = RING_SUBNETS * 256  # the addresses of 10.0.0.0/8


def customer_address(index: int, salt: int) -> int:
    """Customer IP number ``index`` of a pool as a 32-bit address outside 10.0.0.0/8 (the
    rings' network): a bijection of ``0..CUSTOMER_ADDRESSES - 1``, shifted by the segment's
    ``salt``, so distinct indices of a pool get distinct addresses."""
    value = (index * _SPREAD + salt) % CUSTOMER_ADDRESSES
    return value + _RING_BLOCK if value >= RING_NETWORK else value


def _doubles(values: np.ndarray) -> array[float]:
    """A copy of a float64 array as ``array('d')``."""
    doubles = array("d")
    doubles.frombytes(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return doubles


class SegmentRun:
    """A segment's sample plus its funnel flags and identity helpers during a replication."""

    def __init__(self, sample: SegmentSample, horizon_s: float, subnet_base: int = 0) -> None:
        """``subnet_base``: the /24 subnets of 10.0.0.0/8 the scenario's earlier ring segments
        take (:attr:`~sim.segments.Segment.ring_subnets`), so that every ring of the scenario
        has subnets of its own."""
        segment = sample.segment
        self.sample = sample
        self.segment: Segment = segment
        self.name = segment.name
        self.is_ring = segment.is_ring
        # rings open new accounts; the other segments say whether they are new customers
        self.new_customer = True if self.is_ring else segment.new_customer
        self.claimed = bytearray(sample.actors)
        self.redeemed = bytearray(sample.actors)
        self.activated = 0  # redeemers with no organic purchase: active only thanks to coupons
        self.consumed: set[int] = set()
        # Plain float64 arrays: bisect and indexing give Python floats (numpy scalars are slow
        # in this per-use code), at numpy's 8 bytes per value (a list would take 32).
        organic = sample.organic
        self.keys = _doubles(organic.keys)
        self.offsets: list[int] = organic.offsets.tolist()
        self.amounts = _doubles(organic.amount_fen)
        self.stride = horizon_s + 1.0
        self.horizon_s = horizon_s
        self.pull_forward_s = segment.pull_forward_days * DAY_S
        self.attribution_s = segment.attribution_days * DAY_S
        self.ages = sample.account_age_s.tolist()
        self.numbers = [str(c) for c in sample.customers.tolist()]
        self.activation_s = sample.activation_s.tolist()
        follow = sample.follow_on
        self.follow_offsets: list[int] = follow.offsets.tolist()
        self.follow_times = _doubles(follow.times_s)
        self.follow_cumulative: list[float] = follow.cumulative_fen.tolist()
        self.order_delta_fen = 0.0  # coupon orders minus the purchases they replaced
        self.follow_on_fen = 0.0  # spend after a first use that would not have happened
        self.coupon_gmv_fen = 0  # orders paid with a coupon
        self.ring_network = RING_NETWORK + subnet_base * 256  # this segment's first ring address
        self.salt = sum(self.name.encode()) * 7919
        # identifiers are "<segment><prefix><number>": request "regular:17", customer
        # "regular-4", device "regular-d4", phone "regular-p4", card "regular-c4"
        self.request_prefix = f"{self.name}:"
        self.customer_prefix = f"{self.name}-"
        self.device_prefix = f"{self.name}-d"
        self.phone_prefix = f"{self.name}-p"
        self.card_prefix = f"{self.name}-c"
        self.ring_devices = self._ring_devices() if self.is_ring else []
        self.ring_ips: dict[int, str] = {}  # (ring, index) -> text, a ring's pool is small

    def _ring_devices(self) -> list[str]:
        """Every ring account's device id: the ring's ``devices_per_ring`` devices in turn."""
        per_ring, devices = self.segment.accounts_per_ring, self.segment.devices_per_ring
        return [
            f"{self.name}-r{actor // per_ring}-d{actor % per_ring % devices}"
            for actor in range(self.sample.actors)
        ]

    def ip(self, index: int, actor: int) -> str:
        """IP number ``index`` of the pool as text. Each ring of the scenario has whole /24
        subnets of 10.0.0.0/8 of its own (numbered across ring segments; the scenario's bound on
        them, :func:`sim.segment_parse.check_ring_subnets`, keeps them inside), so its IPs share
        a few subnets and no two rings share one. A customer segment's pool is spread over the
        addresses outside 10.0.0.0/8 (distinct indices, distinct addresses)."""
        if self.is_ring:
            ring = actor // self.segment.accounts_per_ring
            key = ring * self.segment.ips_per_ring + index
            text = self.ring_ips.get(key)
            if text is None:
                value = self.ring_network + ring * self.segment.subnets_per_ring * 256 + index
                assert RING_NETWORK <= value < RING_NETWORK + RING_SUBNETS * 256
                text = self.ring_ips[key] = _ip_text(value.to_bytes(4, "big"))
            return text
        return _ip_text(customer_address(index, self.salt).to_bytes(4, "big"))

    def claim_request(
        self, j: int, stock_id: str, actor: int, claimed_at_s: float, ip: int
    ) -> ClaimRequest:
        """Attempt ``j``'s claim at engine time ``claimed_at_s``, with the identifiers and risk
        signals the client sends (account creation time from the actor's sampled age)."""
        number = self.numbers[actor]  # the customer's index, joined to the segment's prefixes
        if self.is_ring:
            device, address = self.ring_devices[actor], self.ip(ip, actor)
        else:  # the device id and customer_address() inlined: this runs once per claim attempt
            device = self.device_prefix + number
            value = (ip * _SPREAD + self.salt) % CUSTOMER_ADDRESSES
            value += _RING_BLOCK if value >= RING_NETWORK else 0
            address = _ip_text(value.to_bytes(4, "big"))
        return _new(
            ClaimRequest,
            (
                self.request_prefix + str(j), stock_id, self.customer_prefix + number, device,
                self.phone_prefix + number, self.card_prefix + number, address, "", self.name,
                self.new_customer, claimed_at_s - self.ages[actor],
            ),
        )  # fmt: skip

    def _free_position(self, actor: int, t_s: float) -> tuple[int, int, float]:
        """``(position, end, base)``: the actor's first organic purchase at or after ``t_s``
        that no coupon has taken yet (``position == end``: none), and the actor's key base."""
        lo, end = self.offsets[actor], self.offsets[actor + 1]
        base = actor * self.stride
        # The actor's keys lie in [base, base + horizon): a search inside its own range finds
        # what a search of all keys would.
        pos = bisect_left(self.keys, base + t_s, lo, end)
        while pos < end and pos in self.consumed:
            pos += 1
        return pos, end, base

    def take_organic(self, actor: int, t_s: float) -> tuple[int, float]:
        """Take the actor's next organic purchase at or after ``t_s`` within the pull-forward
        span: ``(position, amount)``, or ``(-1, 0.0)`` when there is none."""
        if self.offsets[actor] == self.offsets[actor + 1]:
            return -1, 0.0  # no organic purchases at all (most new and dormant customers)
        pos, end, base = self._free_position(actor, t_s)
        if pos >= end or self.keys[pos] > base + t_s + self.pull_forward_s:
            return -1, 0.0
        self.consumed.add(pos)
        return pos, self.amounts[pos]

    def next_organic(
        self, actor: int, after_s: float, before_s: float
    ) -> tuple[int, float, float] | None:
        """Take the actor's first organic purchase in ``[after_s, before_s)`` that no coupon
        has taken yet: ``(position, time, amount)``, or ``None``."""
        if self.offsets[actor] == self.offsets[actor + 1]:
            return None
        pos, end, base = self._free_position(actor, after_s)
        if pos >= end or self.keys[pos] >= base + before_s:
            return None
        self.consumed.add(pos)
        return pos, self.keys[pos] - base, self.amounts[pos]

    def organic_count(self, actor: int) -> int:
        """How many organic purchases the actor makes over the horizon (0: not active alone)."""
        return self.offsets[actor + 1] - self.offsets[actor]

    def follow_on(self, actor: int, use_s: float) -> float:
        """The actor's spend caused by a first coupon use at ``use_s``: its follow-on purchases
        within the attribution window, the horizon, and before its own organic activation."""
        lo, hi = self.follow_offsets[actor], self.follow_offsets[actor + 1]
        end_s = min(self.attribution_s, self.horizon_s - use_s, self.activation_s[actor] - use_s)
        if lo == hi or end_s <= 0:
            return 0.0
        position = bisect_left(self.follow_times, end_s, lo, hi)
        return self.follow_cumulative[position] - self.follow_cumulative[lo]
