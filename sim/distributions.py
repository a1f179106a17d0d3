"""Distributions declared in scenario files: purchase amounts and delays.

A distribution is a TOML inline table with a ``dist`` key and its parameters, e.g.::

    amount = {dist = "lognormal", median_fen = 15000, sigma = 0.8}
    redeem_delay = {dist = "gamma", shape = 1.5, mean_days = 8}
    claim_latency = {dist = "exponential", mean_s = 3}

Amounts are in fen (``median_fen``, ``low_fen``/``high_fen``); durations take a unit suffix,
``_s`` or ``_days`` (``mean_days``, ``scale_s``), and are returned in seconds. Sampling is
vectorised: :meth:`Dist.sample` draws ``n`` values from a numpy ``Generator`` in one call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from engine.errors import InvalidDefinition
from sim.units import DAY_S

# kind -> (required parameters, optional parameters); durations appear without their unit here
_AMOUNT_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lognormal": (("median_fen", "sigma"), ()),
    "uniform": (("low_fen", "high_fen"), ()),
    "fixed": (("value_fen",), ()),
}
_DELAY_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "gamma": (("shape", "mean"), ()),
    "weibull": (("shape", "scale"), ()),
    "exponential": (("mean",), ()),
    "lognormal": (("median", "sigma"), ()),
    "uniform": (("low", "high"), ()),
    "fixed": (("value",), ()),
}
_UNITS = {"_s": 1.0, "_days": DAY_S}
# Bounds (TIGER_STYLE): an amount above 10 million yuan, a delay above ten years or a lognormal
# sigma above 5 (a p99 over 10^5 times the median) is a typo, not a customer.
MAX_AMOUNT_FEN = 1_000_000_000.0
MAX_DELAY_S = 3650 * DAY_S
MAX_SHAPE = 1000.0
MAX_SIGMA = 5.0


@dataclass(frozen=True)
class Dist:
    """A validated distribution: ``kind`` and its parameters (amounts in fen, times in s)."""

    kind: str
    params: tuple[tuple[str, float], ...]
    table: tuple[tuple[str, Any], ...]  # the declaration as written (for the resolved scenario)

    @property
    def mean(self) -> float:
        """The distribution's mean (fen or seconds)."""
        p = dict(self.params)
        if self.kind == "lognormal":
            return p["median"] * math.exp(p["sigma"] ** 2 / 2)
        if self.kind == "uniform":
            return (p["low"] + p["high"]) / 2
        if self.kind == "weibull":
            return p["scale"] * math.gamma(1 + 1 / p["shape"])
        return p["mean"] if "mean" in p else p["value"]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws as float64."""
        p = dict(self.params)
        if self.kind == "lognormal":  # rng.lognormal's draws, exponentiated in one vector pass
            values = rng.standard_normal(n)
            values *= p["sigma"]
            values += math.log(p["median"])
            return np.exp(values, out=values)
        if self.kind == "gamma":
            return rng.gamma(p["shape"], p["mean"] / p["shape"], n)
        if self.kind == "weibull":
            return p["scale"] * rng.weibull(p["shape"], n)
        if self.kind == "exponential":
            return rng.exponential(p["mean"], n)
        if self.kind == "uniform":
            return rng.uniform(p["low"], p["high"], n)
        return np.full(n, p["value"])

    def sample_fen(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` amounts in whole fen, at least 1 (money is integer fen; float64 holds them
        exactly), from the same draws as :meth:`sample`."""
        return _whole_fen(self.sample(rng, n))

    def quantile(self, u: np.ndarray) -> np.ndarray:
        """The inverse CDF at each uniform of ``u`` (in (0, 1)): the draw that
        :mod:`sim.keyed` uniforms map to, so a customer's value depends on its own uniform only
        (common random numbers across variants)."""
        p = dict(self.params)
        values: np.ndarray
        if self.kind == "lognormal":
            values = p["median"] * np.exp(p["sigma"] * special.ndtri(u))
        elif self.kind == "gamma":
            values = special.gammaincinv(p["shape"], u) * (p["mean"] / p["shape"])
        elif self.kind == "weibull":
            values = p["scale"] * (-np.log1p(-u)) ** (1.0 / p["shape"])
        elif self.kind == "exponential":
            values = -p["mean"] * np.log1p(-u)
        elif self.kind == "uniform":
            values = p["low"] + u * (p["high"] - p["low"])
        else:
            values = np.full(len(u), p["value"])
        return values

    def quantile_fen(self, u: np.ndarray) -> np.ndarray:
        """:meth:`quantile` in whole fen, at least 1 (as :meth:`sample_fen`)."""
        return _whole_fen(self.quantile(u))

    def to_dict(self) -> dict[str, Any]:
        """The declaration as written (units included), for the resolved scenario."""
        return dict(self.table)


def _whole_fen(amounts: np.ndarray) -> np.ndarray:
    """``amounts`` (a fresh float64 array, changed in place: no copies) rounded to whole fen,
    at least 1: money is integer fen, and float64 holds such amounts exactly."""
    np.rint(amounts, out=amounts)
    np.maximum(amounts, 1.0, out=amounts)
    return amounts


def _number(value: object, path: str, *, positive: bool = True) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidDefinition(path, value, "a finite number")
    if positive and value <= 0:
        raise InvalidDefinition(path, value, "a number > 0")
    if value < 0:
        raise InvalidDefinition(path, value, "a number >= 0")
    return float(value)


def _check_bound(name: str, value: float, path: str, shown: float, amount: bool) -> None:
    """Refuse parameters beyond the bounds; ``shown`` is the value as written (with its unit)."""
    if name == "sigma":
        limit, what = MAX_SIGMA, f"a sigma <= {MAX_SIGMA:g}"
    elif name == "shape":
        limit, what = MAX_SHAPE, f"a shape <= {MAX_SHAPE:g}"
    elif amount:
        limit, what = MAX_AMOUNT_FEN, f"an amount <= {MAX_AMOUNT_FEN:,.0f} fen"
    else:
        limit, what = MAX_DELAY_S, f"a duration <= {MAX_DELAY_S / DAY_S:,.0f} days"
    if value > limit:
        raise InvalidDefinition(path, shown, what)


def _parse(
    table: object, path: str, kinds: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
) -> tuple[str, dict[str, Any]]:
    if not isinstance(table, Mapping):
        raise InvalidDefinition(path, table, "an inline table such as {dist = ..., ...}")
    kind = table.get("dist")
    if kind not in kinds:
        raise InvalidDefinition(f"{path}.dist", kind, f"one of {', '.join(kinds)}")
    return str(kind), dict(table)


def amount_dist(table: object, path: str) -> Dist:
    """A purchase-amount distribution (fen): lognormal, uniform or fixed."""
    kind, raw = _parse(table, path, _AMOUNT_KINDS)
    required, _ = _AMOUNT_KINDS[kind]
    allowed = {"dist", *required}
    for key in raw:
        if key not in allowed:
            raise InvalidDefinition(
                f"{path}.{key}", raw[key], f"no such key for {kind} (allowed: {sorted(allowed)})"
            )
    params = []
    for key in required:
        if key not in raw:
            raise InvalidDefinition(f"{path}.{key}", None, "a value (missing)")
        name = key.removesuffix("_fen")
        value = _number(raw[key], f"{path}.{key}", positive=key != "low_fen")
        _check_bound(name, value, f"{path}.{key}", raw[key], amount=True)
        params.append((name, value))
    _check_order(dict(params), raw, path)
    return Dist(kind, tuple(params), tuple(raw.items()))


def delay_dist(table: object, path: str) -> Dist:
    """A delay distribution: gamma, weibull, exponential, lognormal, uniform or fixed.

    Each duration parameter carries its unit: ``mean_days = 8`` or ``mean_s = 3``."""
    kind, raw = _parse(table, path, _DELAY_KINDS)
    required, _ = _DELAY_KINDS[kind]
    durations = {"mean", "scale", "median", "low", "high", "value"}
    params: dict[str, float] = {}
    for key, value in raw.items():
        if key == "dist":
            continue
        name, factor = _split_unit(key)
        if name not in required or (name in durations) != (factor is not None) or name in params:
            expected = [r + "_days|_s" if r in durations else r for r in required]
            raise InvalidDefinition(f"{path}.{key}", value, f"one of {expected} for {kind}")
        positive = name not in ("low", "value")
        params[name] = _number(value, f"{path}.{key}", positive=positive) * (factor or 1.0)
        _check_bound(name, params[name], f"{path}.{key}", value, amount=False)
    for name in required:
        if name not in params:
            unit = "_days" if name in durations else ""
            raise InvalidDefinition(f"{path}.{name}{unit}", None, "a value (missing)")
    _check_order(params, raw, path)
    return Dist(kind, tuple((n, params[n]) for n in required), tuple(raw.items()))


def _split_unit(key: str) -> tuple[str, float | None]:
    for suffix, factor in _UNITS.items():
        if key.endswith(suffix):
            return key.removesuffix(suffix), factor
    return key, None


def _check_order(params: dict[str, float], raw: dict[str, Any], path: str) -> None:
    """``high`` at least ``low``; the error names the keys and values as written (units
    included: ``high_days = 2: expected at least low_days = 5``)."""
    if "low" not in params or params["high"] >= params["low"]:
        return
    low_key = next(k for k in raw if k.partition("_")[0] == "low")
    high_key = next(k for k in raw if k.partition("_")[0] == "high")
    raise InvalidDefinition(
        f"{path}.{high_key}", raw[high_key], f"at least {low_key} = {raw[low_key]}"
    )
