"""The load profile of a scenario (``[load]``): how the load test offers the Friday peak.

The keys, their defaults and meanings are the cross-team contract (``docs/contracts.md``,
"LoadProfile"); :class:`LoadProfile` is re-exported by :mod:`sim.scenario`. This module is the one
parser of the table: the load test (:mod:`loadtest.profile`) extends :class:`LoadProfile` and
checks its values with :func:`load_value` and :func:`check_load`.

The flash-sale shape is waiting (``window_opens_after_s``), opening spike (``spike_s``) and decay
(``decay_s``). Its length and the test's follow each other (:func:`fit_shape`): without
``duration_s`` the test lasts the whole shape; with ``duration_s`` but no ``decay_s`` the decay is
what the duration leaves after the waiting and the spike.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidDefinition
from engine.spec_io import check_keys


@dataclass(frozen=True)
class LoadProfile:
    """The load-test profile. Counts are integers, rates and durations floats.

    The defaults are one whole shape: 5 s waiting + 10 s spike + 20 s decay = 35 s."""

    stock: str = ""  # id of the stock to load-test (default: the first stock)
    users: int = 2000
    spawn_rate: float = 1000.0  # users started per second
    duration_s: float = 35.0  # window_opens_after_s + spike_s + decay_s when not set
    window_opens_after_s: float = 5.0
    arrival_rate_per_s: float = 0.0  # 0: closed model; > 0: open model at this target rate
    early_share: float = 0.6  # customers waiting before the opening
    late_share: float = 0.3
    bot_share: float = 0.1  # wool-puller bots
    retry_share: float = 0.05  # clients that retry the same request_id after a timeout
    bot_devices: int = 20
    bot_ip_pool: int = 50
    bot_accounts: int = 2000
    customers: int = 100_000  # distinct customer ids to draw from
    timeout_s: float = 2.0
    spike_s: float = 10.0  # how long the opening spike lasts
    decay_s: float = 20.0  # what duration_s leaves after the spike, when only that is set
    max_p99_ms: float | None = None  # optional thresholds (CLI flags override them)
    min_rps: float | None = None  # answered claims/s of any outcome (a fast "no" counts)
    max_error_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved ``[load]`` table (thresholds left out when not set)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


LOAD_KEYS = frozenset(f.name for f in dataclasses.fields(LoadProfile))
_COUNTS = {"users": 1, "bot_devices": 1, "bot_ip_pool": 1, "bot_accounts": 0, "customers": 1}
_POSITIVE = {"spawn_rate", "duration_s", "timeout_s"}
_SHARES = {"early_share", "late_share", "bot_share", "retry_share", "max_error_rate"}


def load_from_dict(table: object, path: str, stock_ids: tuple[str, ...]) -> LoadProfile:
    """Parse ``[load]`` strictly; ``stock`` must name one of ``stock_ids``, and the window must
    open before the test ends (``duration_s > window_opens_after_s``)."""
    if not isinstance(table, Mapping):
        raise InvalidDefinition(path, table, "a table")
    check_keys(table, set(LOAD_KEYS), path)
    values = {key: load_value(key, value, f"{path}.{key}") for key, value in table.items()}
    stock = values.setdefault("stock", stock_ids[0])
    if stock not in stock_ids:
        raise InvalidDefinition(
            f"{path}.stock", stock, f"the id of a stock of the scenario {stock_ids}"
        )
    profile = LoadProfile(**fit_shape(values))
    check_load(profile, path)
    if profile.duration_s <= profile.window_opens_after_s:
        raise InvalidDefinition(
            f"{path}.duration_s", profile.duration_s,
            f"more than {path}.window_opens_after_s = {profile.window_opens_after_s:g} "
            "(the test starts that long before the window opens)",
        )  # fmt: skip
    return profile


def fit_shape(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with ``duration_s`` or ``decay_s`` filled in when missing: without
    ``duration_s``, the whole shape (waiting + spike + decay); with it but without ``decay_s``,
    what the duration leaves after the waiting and the spike (0 if nothing)."""
    fitted = dict(values)
    default = LoadProfile()
    waiting_s = fitted.get("window_opens_after_s", default.window_opens_after_s)
    spike_s = fitted.get("spike_s", default.spike_s)
    if "duration_s" not in fitted:
        fitted["duration_s"] = waiting_s + spike_s + fitted.get("decay_s", default.decay_s)
    elif "decay_s" not in fitted:
        fitted["decay_s"] = max(0.0, fitted["duration_s"] - waiting_s - spike_s)
    return fitted


def check_load(profile: LoadProfile, path: str) -> None:
    """The checks across keys: ``early_share + late_share <= 1``."""
    if profile.early_share + profile.late_share > 1:
        raise InvalidDefinition(
            f"{path}.late_share", profile.late_share, "early_share + late_share <= 1"
        )


def load_value(key: str, value: object, path: str) -> Any:
    """The value of ``[load]`` key ``key`` (one of :data:`LOAD_KEYS`) checked and typed: counts
    are integers, other numbers floats (finite, >= 0; > 0 for rates and durations; shares
    <= 1); ``stock`` a string (whether the scenario has it is :func:`load_from_dict`'s check)."""
    if key == "stock":
        if not isinstance(value, str):
            raise InvalidDefinition(path, value, "a stock id (a string)")
        return value
    if key in _COUNTS:
        minimum = _COUNTS[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise InvalidDefinition(path, value, f"an integer >= {minimum}")
        return value
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidDefinition(path, value, "a number >= 0")
    number = float(value)
    if key in _POSITIVE and number <= 0:
        raise InvalidDefinition(path, number, "a number > 0")
    if key in _SHARES and number > 1:
        raise InvalidDefinition(path, number, "a share in 0..1")
    return number
