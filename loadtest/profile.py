"""The load profile of a scenario and the flash-sale schedule derived from it.

The profile is the scenario's ``[load]`` table (``docs/contracts.md``, "LoadProfile"), parsed by
:mod:`sim.scenario` with :mod:`sim.load`; :class:`Profile` extends ``sim.load.LoadProfile`` (same
fields, same defaults, same checks) with what only the load test sets (``--profile-json`` for
plain Locust, command-line thresholds).

:func:`users_at` is the pure schedule behind the Locust shape: a waiting crowd ramps up before
the window opens, everyone is there during the opening spike, then the crowd decays to a tail.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from engine.errors import InvalidDefinition
from sim.load import LOAD_KEYS, LoadProfile, check_load, fit_shape, load_value


@dataclass(frozen=True)
class Profile(LoadProfile):
    """The load-test profile: :class:`sim.load.LoadProfile` plus two keys that only
    ``--profile-json`` and the command line set.

    The population mix is the profile's shares; the wool-puller ring's accounts, devices and
    IPs come from the scenario's ``wool_puller`` segments unless ``[load]`` sets them."""

    min_issued_rps: float | None = None  # 201s/s from the opening to the last coupon
    think_time_s: float | None = None  # closed model: customers' pause; None: 0.5–2 s

    def replace(self, **changes: Any) -> Profile:
        """A copy with ``changes`` applied (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def open_model(self) -> bool:
        return self.arrival_rate_per_s > 0


@dataclass(frozen=True)
class Target:
    """What a load test needs from a scenario: its name, the stock table and the profile."""

    name: str
    stock_table: dict[str, Any]
    profile: Profile
    risk_pack: str = "none"  # "default" when the scenario has risk rules, else "none"


def profile_from_mapping(table: Mapping[str, Any], path: str = "load") -> Profile:
    """A :class:`Profile` from a ``[load]`` table or a ``LoadProfile``-like mapping, checked as
    :mod:`sim.load` checks a scenario's (strict; an unset threshold may be ``None``), with the
    same shape defaults (:func:`sim.load.fit_shape`)."""
    known = {f.name for f in fields(Profile)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise InvalidDefinition(f"{path}.{key}", value, f"one of {', '.join(sorted(known))}")
        if value is None and getattr(Profile(), key) is None:
            continue  # an optional threshold left unset
        if key in LOAD_KEYS:
            values[key] = load_value(key, value, f"{path}.{key}")
        else:
            values[key] = _extra_value(value, f"{path}.{key}")
    profile = Profile(**fit_shape(values))
    check_load(profile, path)
    return profile


def _extra_value(value: object, path: str) -> float:
    """``min_issued_rps`` or ``think_time_s``: a finite number >= 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidDefinition(path, value, "a finite number >= 0")
    return float(value)


def load_target(path: Path) -> Target:
    """Read the scenario at ``path`` (``sim.scenario.load_scenario``: strict, errors name the
    key, the shape's defaults fitted) and pick the stock its ``[load]`` profile names."""
    from sim.scenario import load_scenario

    scenario = load_scenario(path)
    ring = _ring_geometry(scenario.segments, _explicit_load_keys(path))
    profile = Profile(**{**dataclasses.asdict(scenario.load), **ring})
    target = _target(str(scenario.name), list(scenario.raw.get("stocks", [])), profile)
    # `couponlab serve` knows only its default pack: use it when the scenario has any rule
    return dataclasses.replace(target, risk_pack="default" if scenario.risk_rules else "none")


def _explicit_load_keys(path: Path) -> set[str]:
    """The keys the scenario's ``[load]`` table sets itself (the rest are defaults)."""
    with path.open("rb") as handle:
        table = tomllib.load(handle).get("load", {})
    return set(table) if isinstance(table, dict) else set()


def shape_cut(profile: Profile) -> str:
    """What ``duration_s`` cuts off the flash-sale shape (waiting, spike, decay), or ``""``
    when the test lasts the whole shape — e.g. ``decay cut to 5 of 15 s (duration 20 s <
    5 + 10 + 15 s)``. The tail after the decay needs no time of its own."""
    waiting_s, spike_s, decay_s = profile.window_opens_after_s, profile.spike_s, profile.decay_s
    duration_s = profile.duration_s
    if duration_s >= waiting_s + spike_s + decay_s:
        return ""
    whole = f"(duration {duration_s:g} s < {waiting_s:g} + {spike_s:g} + {decay_s:g} s)"
    after_open_s = max(0.0, duration_s - waiting_s)
    if after_open_s < spike_s:
        return f"spike cut to {after_open_s:g} of {spike_s:g} s, no decay {whole}"
    return f"decay cut to {after_open_s - spike_s:g} of {decay_s:g} s {whole}"


def _ring_geometry(segments: Sequence[Any], explicit: set[str]) -> dict[str, int]:
    """``bot_accounts``, ``bot_devices``, ``bot_ip_pool`` from the scenario's wool-puller
    segments (rings × accounts/devices/IPs per ring), unless ``[load]`` sets them."""
    rings = [s for s in segments if getattr(s, "kind", "") == "wool_puller"]
    derived = {
        "bot_accounts": sum(s.rings * s.accounts_per_ring for s in rings),
        "bot_devices": sum(s.rings * s.devices_per_ring for s in rings),
        "bot_ip_pool": sum(s.rings * s.ips_per_ring for s in rings),
    }
    return {k: v for k, v in derived.items() if v > 0 and k not in explicit}


def _target(name: str, stocks: list[dict[str, Any]], profile: Profile) -> Target:
    if not stocks:
        raise InvalidDefinition("stocks", [], "at least one [[stocks]] table")
    stock_id = profile.stock or str(stocks[0].get("id", ""))
    for table in stocks:
        if table.get("id") == stock_id:
            return Target(name, dict(table), profile.replace(stock=stock_id))
    ids = ", ".join(str(t.get("id")) for t in stocks)
    raise InvalidDefinition("load.stock", stock_id, f"the id of a stock in the scenario ({ids})")


def users_at(profile: Profile, elapsed_s: float) -> tuple[int, float] | None:
    """The flash-sale shape: ``(users, spawn_rate)`` at ``elapsed_s`` since the test started,
    or ``None`` when the test is over.

    Before the opening the waiting crowd ramps up at ``spawn_rate`` (customers and bots are
    there early; late customers wait inside their ``on_start``); during the spike everyone is
    there; over ``decay_s`` the crowd shrinks linearly to a tail of ``late_share`` of the users.
    """
    if elapsed_s >= profile.duration_s:
        return None
    users = max(1, profile.users)
    tail = max(1, round(users * profile.late_share))
    decay_from_s = profile.window_opens_after_s + profile.spike_s
    if elapsed_s < decay_from_s:
        return users, profile.spawn_rate
    if profile.decay_s <= 0 or elapsed_s >= decay_from_s + profile.decay_s:
        return tail, profile.spawn_rate
    progress = (elapsed_s - decay_from_s) / profile.decay_s
    return round(users - (users - tail) * progress), profile.spawn_rate


def target_rate_at(profile: Profile, elapsed_s: float, flash: bool = True) -> float:
    """The open model's target arrival rate at ``elapsed_s`` on the shape's clock (0 in the
    closed model, before the opening and after the end): ``arrival_rate_per_s`` scaled by the
    flash-sale crowd (``users_at / users``), or constant with ``flash=False``."""
    if not profile.open_model or elapsed_s < profile.window_opens_after_s:
        return 0.0
    shape = users_at(profile, elapsed_s)
    if shape is None:
        return 0.0
    crowd = shape[0] / max(1, profile.users) if flash else 1.0
    return profile.arrival_rate_per_s * crowd
