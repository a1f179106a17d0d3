"""Random numbers of a replication: named streams, and counter-based keyed uniforms.

:func:`stream` is a numpy generator for a tuple of names under the replication's seed (a
segment's organic purchases of one week, say): what it draws depends only on those names.

:func:`uniforms` is counter-based: a uniform for every (key, index, draw), computed, not streamed.

A streamed generator hands out numbers in order, so the numbers a customer gets depend on how
many were drawn before: add one responder and every later responder's behaviour changes. Here
the uniform of customer ``i``'s draw ``d`` under ``key`` is a hash of the three, so it is the
same whoever else exists. That is what common random numbers need: two variants of a campaign
(claim probability 0.12 or 0.13, validity 7 or 30 days) give a customer who acts in both the
same arrival, intent, delays and order.

The hash is SplitMix64's finaliser applied twice to ``key + index·φ + draw·ψ`` (φ, ψ odd 64-bit
constants), vectorised over numpy ``uint64`` arrays (which wrap, as the hash wants). Uniforms
are ``(top 53 bits + 0.5) / 2**53``: strictly inside (0, 1), so inverse CDFs never see 0 or 1.
"""

from __future__ import annotations

import hashlib

import numpy as np

_PHI = np.uint64(0x9E3779B97F4A7C15)
_PSI = np.uint64(0xD1B54A32D192ED03)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_SCALE = 2.0**-53


def stream(seed: int, *names: str) -> np.random.Generator:
    """An independent generator for ``names`` (e.g. segment, purpose) under ``seed``."""
    key = tuple(int.from_bytes(hashlib.blake2b(n.encode(), digest_size=4).digest()) for n in names)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def key_of(seed: int, *names: str) -> np.uint64:
    """The 64-bit key of ``names`` (segment, purpose, stock id, …) under ``seed``."""
    text = "\x1f".join([str(seed), *names]).encode()
    return np.uint64(int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little"))


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place on a uint64 array (which it returns)."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def uniforms(key: np.uint64, index: np.ndarray, draw: int) -> np.ndarray:
    """One uniform in (0, 1) per element of ``index`` (non-negative integers), for ``draw``.

    The same (key, index, draw) always gives the same number; different draws of one index
    are independent for every practical purpose (each is a full 64-bit hash)."""
    with np.errstate(over="ignore"):
        x = np.asarray(index, dtype=np.uint64) * _PHI
        x += key + np.uint64(draw) * _PSI
        x = _mix(_mix(x))
    return ((x >> _S11).astype(np.float64) + 0.5) * _SCALE
