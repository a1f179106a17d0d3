"""The ``[risk]`` section of a scenario: which risk Rules guard the stocks.

::

    [risk]
    pack = "default"          # "default" (engine.risk.default_pack) or "none"
    shadow = ["ip_5m"]        # rule ids evaluated and logged but never enforced
    [[risk.rules]]            # extra rules, or overrides of a pack rule with the same id
    ...                       # the engine.risk rule format

No ``[risk]`` section means no risk engine. The resolved scenario lists every rule explicitly
(``pack = "none"`` plus the pack's rules as dicts), so it does not depend on the pack's version.
When :mod:`engine.risk` is not importable the scenario still loads and runs without risk (its
summary's ``risk`` is null) and the resolved table keeps the declaration as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import InvalidDefinition
from engine.spec_io import check_keys

_PACKS = ("default", "none")


def _risk_module() -> Any:
    try:
        import engine.risk as risk
    except ImportError:
        return None
    needed = ("RiskEngine", "rules_from_dicts", "default_pack_dicts", "evaluate")
    return risk if all(hasattr(risk, name) for name in needed) else None  # complete only


def _rule_id(table: Mapping[str, Any]) -> object:
    return table.get("rule_id", table.get("id"))


def risk_from_dict(table: object, path: str = "risk") -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(rules, resolved table)``; rules are ``engine.risk.Rule`` values with shadow applied."""
    if table is None:
        return (), {"pack": "none", "rules": [], "shadow": []}
    if not isinstance(table, Mapping):
        raise InvalidDefinition(path, table, "a table")
    check_keys(table, {"pack", "rules", "shadow"}, path)
    pack = table.get("pack", "default")
    if pack not in _PACKS:
        raise InvalidDefinition(f"{path}.pack", pack, "one of default, none")
    extra = table.get("rules", [])
    if not isinstance(extra, list) or not all(isinstance(r, Mapping) for r in extra):
        raise InvalidDefinition(f"{path}.rules", extra, "a list of [[risk.rules]] tables")
    shadow = table.get("shadow", [])
    if not isinstance(shadow, list) or not all(isinstance(s, str) for s in shadow):
        raise InvalidDefinition(f"{path}.shadow", shadow, "a list of rule ids")
    module = _risk_module()
    if module is None:  # runs without risk; the resolved table keeps the declaration
        return (), {"pack": pack, "rules": [dict(r) for r in extra], "shadow": list(shadow)}
    merged = [dict(r) for r in (module.default_pack_dicts() if pack == "default" else [])]
    for rule in extra:
        ids = [_rule_id(r) for r in merged]
        if _rule_id(rule) in ids:
            merged[ids.index(_rule_id(rule))] = dict(rule)
        else:
            merged.append(dict(rule))
    # parse the user's rules at their own paths first, so errors point into the file
    module.rules_from_dicts(extra, f"{path}.rules")
    rules = list(module.rules_from_dicts(merged, f"{path}.rules"))
    known = [rule.rule_id for rule in rules]
    for index, rule_id in enumerate(shadow):
        if rule_id not in known:
            raise InvalidDefinition(f"{path}.shadow[{index}]", rule_id, f"a rule id ({known})")
    rules = [_shadowed(rule) if rule.rule_id in shadow else rule for rule in rules]
    return tuple(rules), {"pack": "none", "rules": merged, "shadow": list(shadow)}


def _shadowed(rule: Any) -> Any:
    import dataclasses

    return dataclasses.replace(rule, shadow=True)
