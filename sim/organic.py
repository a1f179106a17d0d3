"""Organic purchases: what a segment's customers buy without any campaign (the counterfactual).

Every customer of a chunk (:data:`sim.population.CHUNK` customers) buys at
``purchases_per_week``; new and dormant customers who start on their own (organic activation)
also buy at ``activated_purchases_per_week`` from that moment. The purchases are drawn one week
(:data:`BLOCK_S`) at a time, each week from its own generator keyed by (segment, chunk, week),
so they depend on nothing the campaign sets (who responds, the stocks) and a longer horizon adds
weeks without redrawing the earlier ones: two variants of a campaign share the counterfactual
exactly.

A week is drawn per block, not per customer: independent Poisson processes superpose, so the
week's purchases at the base rate are Poisson(rate × customers × week) in number, each owned by
a uniformly chosen customer; the activated customers' ones are placed on their active spans
laid end to end. Every purchase gets an amount (the counterfactual GMV sums them all); only the
actors' purchases need a time, which is a :mod:`sim.keyed` uniform of the purchase's position
in its week, computed for those purchases alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sim.keyed import key_of, stream, uniforms
from sim.segments import Segment
from sim.units import WEEK_S

BLOCK_S = WEEK_S  # organic purchases are drawn one week at a time

Picked = list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (actor rank, time, amount) arrays


@dataclass
class Organic:
    """Organic purchases over the horizon: the whole segment's totals (the counterfactual) and
    the actors' own purchases. CSR: actor ``i`` owns positions ``offsets[i]:offsets[i+1]``;
    ``keys = i * (horizon + 1) + time``, so one search finds an actor's next purchase."""

    count: int
    gmv_fen: float
    active: int  # customers with at least one purchase
    keys: np.ndarray
    amount_fen: np.ndarray
    offsets: np.ndarray


class _Block(NamedTuple):
    """One week's purchases of a chunk: purchases ``[0, base)`` at the base rate (their times
    are keyed uniforms over the week, see :meth:`times`), the rest by activated customers."""

    owner: np.ndarray  # the customer (index in the chunk) of each purchase
    amount_fen: np.ndarray
    base: int
    activated_s: np.ndarray  # times of purchases base.. (seconds since the campaign start)
    low_s: float
    key: np.uint64

    def times(self, positions: np.ndarray) -> np.ndarray:
        """The times of the purchases at ``positions`` (seconds since the campaign start)."""
        at_base = positions < self.base
        t = np.empty(len(positions))
        t[at_base] = self.low_s + uniforms(self.key, positions[at_base], 0) * BLOCK_S
        t[~at_base] = self.activated_s[positions[~at_base] - self.base]
        return t


def chunk_organic(
    segment: Segment,
    seed: int,
    chunk: int,
    active_at: np.ndarray,
    horizon_s: float,
    is_actor: np.ndarray,
    rank: np.ndarray,
    picked: Picked,
) -> tuple[int, float, int]:
    """``(purchases, GMV, customers with a purchase)`` of one chunk over ``[0, horizon_s)``;
    ``active_at`` is each customer's organic activation (inf: none); the purchases of the
    customers where ``is_actor`` are appended to ``picked`` as (``rank``, time, amount)."""
    bought = np.zeros(len(active_at), dtype=bool)
    count, gmv = 0, 0.0
    for week in range(math.ceil(horizon_s / BLOCK_S)):
        block = _block(segment, seed, f"{chunk}:{week}", week * BLOCK_S, active_at)
        owner, amount = block.owner, block.amount_fen
        positions = None
        if (week + 1) * BLOCK_S > horizon_s:  # only the last week reaches past the horizon
            positions = np.flatnonzero(block.times(np.arange(len(owner))) < horizon_s)
            owner, amount = owner[positions], amount[positions]
        bought[owner] = True
        count, gmv = count + len(owner), gmv + float(amount.sum())
        mine = np.flatnonzero(is_actor[owner])
        if len(mine):
            at = mine if positions is None else positions[mine]
            picked.append((rank[owner[mine]], block.times(at), amount[mine]))
    return count, gmv, int(np.count_nonzero(bought))


def _block(segment: Segment, seed: int, name: str, low_s: float, active_at: np.ndarray) -> _Block:
    """The purchases of a chunk's customers in ``[low_s, low_s + BLOCK_S)``, from the
    generator and key of (segment, ``name`` = "chunk:week")."""
    rng = stream(seed, segment.name, "organic", name)
    n = len(active_at)
    rate = segment.purchases_per_week / WEEK_S
    owner = rng.integers(0, n, rng.poisson(rate * BLOCK_S * n) if rate > 0 else 0)
    base = len(owner)
    activated_s = np.zeros(0)
    active_rate = segment.activated_purchases_per_week / WEEK_S
    who = np.flatnonzero(active_at < low_s + BLOCK_S) if active_rate > 0 else np.zeros(0, int)
    if len(who):
        start = np.maximum(active_at[who], low_s)
        more, activated_s = _place(rng, active_rate, low_s + BLOCK_S - start, start)
        owner = np.concatenate([owner, who[more]])
    assert segment.amount is not None
    amount = segment.amount.sample_fen(rng, len(owner))
    key = key_of(seed, segment.name, "organic", name)
    return _Block(owner, amount, base, activated_s, low_s, key)


def _place(
    rng: np.random.Generator, rate_per_s: float, length_s: np.ndarray, start_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(span, time)`` of the Poisson points at ``rate_per_s`` on spans of ``length_s`` from
    ``start_s``, laid end to end (one uniform per point says on which span, and when)."""
    edges = np.zeros(len(length_s) + 1)
    np.cumsum(length_s, out=edges[1:])
    at = rng.random(rng.poisson(rate_per_s * edges[-1])) * edges[-1]
    span = np.minimum(np.searchsorted(edges, at, side="right") - 1, len(length_s) - 1)
    return span, start_s[span] + (at - edges[span])


def actor_csr(
    picked: Picked, actors: int, horizon_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The actors' purchases as sorted keys, amounts and offsets (see :class:`Organic`)."""
    rank = np.concatenate([p[0] for p in picked]) if picked else np.zeros(0, dtype=np.int64)
    times = np.concatenate([p[1] for p in picked]) if picked else np.zeros(0)
    amounts = np.concatenate([p[2] for p in picked]) if picked else np.zeros(0)
    keys = rank * (horizon_s + 1.0) + times
    order = np.argsort(keys, kind="stable")
    offsets = np.zeros(actors + 1, dtype=np.int64)
    np.cumsum(np.bincount(rank, minlength=actors), out=offsets[1:])
    return keys[order], amounts[order], offsets
