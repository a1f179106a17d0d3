"""Scenario files: one TOML file describes a campaign completely (``docs/scenarios.md``).

Sections: ``[campaign]`` (name, start, days, timezone), ``[[stocks]]`` (the
:mod:`engine.spec_io` format; times may also be campaign-relative, ``"+7d"`` or
``"+7d10:00"``), ``[risk]`` (rule pack, extra rules, shadow ids), ``[[segments]]`` (the
population, :mod:`sim.segments`), ``[levers]`` (expiry reminders) and ``[load]`` (the load-test
profile, :class:`LoadProfile`). Parsing is strict: an unknown key, a wrong type or an impossible
value raises :class:`~engine.errors.InvalidDefinition` naming the key path, the value and what
was expected, e.g. ``segments[2].claim_probability = 1.4: expected a probability in 0..1``.

The *resolved* scenario (:attr:`Scenario.raw`) has every default written out and every time
absolute; :func:`resolved_toml` writes it, and :attr:`Scenario.hash` is the sha256 of that text.
Loading a resolved scenario gives the same scenario and the same hash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.calendar import zone
from engine.errors import InvalidDefinition
from engine.spec_io import check_keys, parse_time, require, stock_from_dict
from engine.stock import StockSpec
from sim import tomlwrite
from sim.levers import Levers, levers_from_dict
from sim.load import LoadProfile, load_from_dict
from sim.risk_config import risk_from_dict
from sim.segment_parse import check_ring_subnets, segment_from_dict
from sim.segments import Segment, resolved_segment
from sim.units import DAY_S

__all__ = [
    "Levers",
    "LoadProfile",
    "Scenario",
    "check_forecastable",
    "load_scenario",
    "resolved_toml",
]

_TOP_KEYS = {"campaign", "stocks", "risk", "segments", "levers", "load"}
_CAMPAIGN_KEYS = {"name", "description", "start", "days", "timezone", "flagship_stock"}
_RELATIVE = re.compile(r"^\+(\d+)d(?:(\d{2}):(\d{2}))?$")
MAX_DAYS = 366


@dataclass(frozen=True)
class Scenario:
    """A validated campaign scenario. ``start_s`` is epoch seconds; the simulation's clock counts
    seconds since ``start_s``."""

    name: str
    path: Path | None
    description: str
    start_s: float
    days: int
    timezone: str
    stocks: tuple[StockSpec, ...]
    risk_rules: tuple[Any, ...]
    segments: tuple[Segment, ...]
    levers: Levers
    load: LoadProfile
    raw: dict[str, Any]
    hash: str
    flagship_stock: str = ""  # the stock whose sell-out the headline reports

    @property
    def end_s(self) -> float:
        """Epoch seconds of the campaign's end (claims are simulated before it)."""
        return self.start_s + self.days * DAY_S

    @property
    def population(self) -> int:
        """Customers in every segment (wool-puller accounts included)."""
        return sum(segment.size for segment in self.segments)

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with ``factor`` times the population (quotas and budgets kept).

        For quick looks and tests. The resolved scenario holds the scaled sizes, so its hash
        differs from the full one's; sizes beyond their bounds are refused as in a file."""
        if not factor > 0:
            raise InvalidDefinition("population_scale", factor, "a number > 0")
        raw = dict(self.raw)
        raw["segments"] = [
            resolved_segment({}, segment.scaled(factor)) for segment in self.segments
        ]
        return scenario_from_dict(raw, self.path)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidDefinition(
            "scenario", str(path), f"a readable file ({error.strerror})"
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidDefinition("scenario", str(path), f"valid TOML ({error})") from None
    return scenario_from_dict(document, path)


def scenario_from_dict(document: Mapping[str, Any], path: Path | None = None) -> Scenario:
    """Validate a parsed scenario document (a TOML file's tables, or a resolved ``raw``)."""
    check_keys(document, _TOP_KEYS, "")
    campaign = _campaign(require(document, "campaign", ""))
    start_s, tz = campaign["start_s"], campaign["timezone"]
    resolved_stocks, stocks = _stocks(document.get("stocks"), campaign)
    ids = tuple(stock.stock_id for stock in stocks)
    flagship = campaign["flagship_stock"] or ids[0]
    if flagship not in ids:
        raise InvalidDefinition("campaign.flagship_stock", flagship, f"a stock id of {ids}")
    recurring = frozenset(stock.stock_id for stock in stocks if stock.window.weekly)
    segments = _segments(document.get("segments"), ids, recurring)
    rules, risk_raw = risk_from_dict(document.get("risk"), "risk")
    levers = levers_from_dict(document.get("levers", {}), "levers")
    load = load_from_dict(document.get("load", {}), "load", ids)
    raw = {
        "campaign": {
            "name": campaign["name"],
            "description": campaign["description"],
            "start": _iso(start_s, tz),
            "days": campaign["days"],
            "timezone": tz,
            "flagship_stock": flagship,
        },
        "stocks": resolved_stocks,
        "risk": risk_raw,
        "segments": [
            resolved_segment(t, s) for t, s in zip(document["segments"], segments, strict=False)
        ],
        "levers": dataclasses.asdict(levers),
        "load": load.to_dict(),
    }
    digest = hashlib.sha256(tomlwrite.dumps(raw).encode()).hexdigest()
    return Scenario(
        name=campaign["name"],
        path=path,
        description=campaign["description"],
        start_s=start_s,
        days=campaign["days"],
        timezone=tz,
        stocks=stocks,
        risk_rules=rules,
        segments=segments,
        levers=levers,
        load=load,
        raw=raw,
        hash=digest,
        flagship_stock=flagship,
    )


def _stocks(
    tables: object, campaign: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], tuple[StockSpec, ...]]:
    """``(resolved stock tables, stocks)``: times made absolute, every stock validated, ids
    unique."""
    if not isinstance(tables, list) or not tables:
        raise InvalidDefinition("stocks", tables, "at least one [[stocks]] table")
    start_s, tz = campaign["start_s"], campaign["timezone"]
    resolved = [_resolve_stock_times(t, f"stocks[{i}]", start_s, tz) for i, t in enumerate(tables)]
    stocks = tuple(_stock(t, f"stocks[{i}]", tz) for i, t in enumerate(resolved))
    ids = [stock.stock_id for stock in stocks]
    for index, stock in enumerate(stocks):
        if stock.stock_id in ids[:index]:
            raise InvalidDefinition(
                f"stocks[{index}].id", stock.stock_id, "a stock id not used before"
            )
    return resolved, stocks


def resolved_toml(scenario: Scenario) -> str:
    """The resolved scenario as TOML text (what a run directory's ``scenario.toml`` holds)."""
    header = f"# resolved scenario {scenario.name!r}, sha256 {scenario.hash}\n"
    return header + tomlwrite.dumps(scenario.raw)


def _campaign(table: object) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise InvalidDefinition("campaign", table, "a table")
    check_keys(table, _CAMPAIGN_KEYS, "campaign")
    name = require(table, "name", "campaign")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_.\-]{1,64}$", name):
        raise InvalidDefinition("campaign.name", name, "1-64 characters of [A-Za-z0-9_.-]")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise InvalidDefinition("campaign.description", description, "a string")
    timezone = table.get("timezone", "Asia/Shanghai")
    if not isinstance(timezone, str):
        raise InvalidDefinition("campaign.timezone", timezone, "an IANA timezone name (a string)")
    zone(timezone, "campaign.timezone")
    days = require(table, "days", "campaign")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise InvalidDefinition("campaign.days", days, f"an integer in 1..{MAX_DAYS}")
    start = require(table, "start", "campaign")
    if not isinstance(start, str | dt.datetime):
        raise InvalidDefinition("campaign.start", start, "an ISO 8601 time with offset")
    flagship = table.get("flagship_stock", "")
    if not isinstance(flagship, str):
        raise InvalidDefinition("campaign.flagship_stock", flagship, "a stock id (a string)")
    return {
        "flagship_stock": flagship,
        "name": name,
        "description": description,
        "start_s": parse_time(start, "campaign.start"),
        "days": days,
        "timezone": timezone,
    }


def _segments(
    items: object, stock_ids: tuple[str, ...], recurring: frozenset[str]
) -> tuple[Segment, ...]:
    if not isinstance(items, list) or not items:
        raise InvalidDefinition("segments", items, "at least one [[segments]] table")
    segments = tuple(
        segment_from_dict(table, f"segments[{i}]", stock_ids, recurring)
        for i, table in enumerate(items)
    )
    names = [segment.name for segment in segments]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise InvalidDefinition(f"segments[{index}].name", name, "a name not used before")
    check_ring_subnets(segments)
    return segments


def relative_time(value: str, path: str, start_s: float, tz: str) -> float:
    """Epoch seconds of a campaign-relative time: ``+Nd`` (N days after the start) or
    ``+NdHH:MM`` (that local day at HH:MM)."""
    match = _RELATIVE.match(value)
    if match is None:
        raise InvalidDefinition(path, value, "'+Nd' or '+NdHH:MM', or an ISO time with offset")
    days, hours, minutes = match.groups()
    local = dt.datetime.fromtimestamp(start_s, zone(tz)) + dt.timedelta(days=int(days))
    if hours is not None:
        if int(hours) > 23 or int(minutes) > 59:
            raise InvalidDefinition(path, value, "a local time HH:MM in 00:00..23:59")
        local = local.replace(hour=int(hours), minute=int(minutes), second=0, microsecond=0)
    return local.timestamp()


_EPOCH = re.compile(r"\b1\d{9}(?:\.\d+)?\b")  # epoch seconds of 2001..2286


def _stock(table: Mapping[str, Any], path: str, tz: str) -> StockSpec:
    """:func:`engine.spec_io.stock_from_dict`, with its error messages written back in the
    file's own terms: epoch seconds as local ISO times (the scenario's times were relative or
    ISO, not epochs)."""
    try:
        spec = stock_from_dict(table, path)
    except InvalidDefinition as error:
        value = error.value
        if isinstance(value, float) and _EPOCH.fullmatch(repr(value)):
            value = _iso(value, tz)
        expected = _EPOCH.sub(lambda m: _iso(float(m.group()), tz), error.expected)
        expected = expected.replace("start_s ", "start ")
        if value is error.value and expected == error.expected:
            raise
        raise InvalidDefinition(error.field, value, expected) from None
    _check_threshold(spec, table, path)
    return spec


def _check_threshold(spec: StockSpec, table: Mapping[str, Any], path: str) -> None:
    """A voucher's threshold is 0 (无门槛) or at least its face value: 满20减50 would make every
    order between 20 and 50 yuan free, which is a typo for 满200减50, not a campaign."""
    threshold, face = table.get("threshold_fen", 0), table.get("face_fen")
    if spec.value.threshold_fen and isinstance(face, int) and 0 < threshold < face:
        raise InvalidDefinition(
            f"{path}.threshold_fen", threshold,
            f"0 (no threshold) or at least face_fen = {face} (满X减Y needs X >= Y)",
        )  # fmt: skip


def check_forecastable(scenario: Scenario) -> None:
    """Refuse, for a forecast, a stock whose claim window reaches outside the campaign: claims
    are simulated only in the campaign, so the window would be cut silently. (A load test uses
    only the stock and ``[load]``, so loading a scenario does not check this.)"""
    for index, spec in enumerate(scenario.stocks):
        _check_stock_in_campaign(
            spec, f"stocks[{index}]", scenario.start_s, scenario.days, scenario.timezone
        )


def _check_stock_in_campaign(
    spec: StockSpec, path: str, start_s: float, days: int, tz: str
) -> None:
    # "+{days}d" as the file would write it (a local day is not 86,400 s across daylight saving)
    end_s = max(start_s + days * DAY_S, relative_time(f"+{days}d", path, start_s, tz))
    if spec.window.start_s < start_s:
        raise InvalidDefinition(
            f"{path}.window.start", _iso(spec.window.start_s, tz),
            f"at or after campaign.start {_iso(start_s, tz)}",
        )  # fmt: skip
    if spec.window.end_s > end_s:
        raise InvalidDefinition(
            f"{path}.window.end", _iso(spec.window.end_s, tz),
            f"at most the campaign's end {_iso(end_s, tz)} (campaign.start + {days} days)",
        )  # fmt: skip


def _resolve_stock_times(table: object, path: str, start_s: float, tz: str) -> dict[str, Any]:
    """A copy of the stock table with relative times made absolute (ISO, campaign timezone),
    and the campaign's timezone filled in."""
    if not isinstance(table, Mapping):
        raise InvalidDefinition(path, table, "a [[stocks]] table")
    out = dict(table)
    out.setdefault("timezone", tz)
    for key in ("window", "validity"):
        inner = out.get(key)
        if not isinstance(inner, Mapping):
            continue
        inner = dict(inner)
        for name in ("start", "end"):
            value = inner.get(name)
            if isinstance(value, str) and value.startswith("+"):
                value = relative_time(value, f"{path}.{key}.{name}", start_s, tz)
            if isinstance(value, int | float | dt.datetime) and not isinstance(value, bool):
                value = _iso(parse_time(value, f"{path}.{key}.{name}"), tz)
            if value is not None:
                inner[name] = value
        out[key] = inner
    return out


def _iso(epoch_s: float, tz: str) -> str:
    return dt.datetime.fromtimestamp(epoch_s, zone(tz)).isoformat()
