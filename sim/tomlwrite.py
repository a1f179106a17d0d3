"""A small TOML writer for resolved scenarios (``tomllib`` reads TOML but cannot write it).

It writes what scenarios contain: top-level tables of scalars, arrays of tables, and nested
values as inline tables and arrays. Output is deterministic (key order as given), so the
scenario hash of a resolved scenario is stable.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dumps(document: Mapping[str, Any]) -> str:
    """TOML text for ``document``: each top-level dict becomes ``[table]``, each list of dicts
    ``[[table]]``; everything below is written inline."""
    lines: list[str] = []
    for key, value in document.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{_key(key)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None]
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for item in value:
                lines += ["", f"[[{_key(key)}]]"]
                lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items() if v is not None]
        elif value is not None:
            lines.insert(0, f"{_key(key)} = {_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def spelling(value: object) -> str:
    """How ``value`` is written in a TOML file (``true``, ``"text"``, ``{a = 1}``), for error
    messages about scenario files; ``(missing)`` for ``None`` (TOML has no null), Python's
    ``repr`` for what TOML cannot hold."""
    if value is None:
        return "(missing)"
    try:
        return _value(value)
    except (TypeError, ValueError):
        return repr(value)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
