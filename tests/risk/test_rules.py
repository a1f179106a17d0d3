"""Rule definitions: strict parsing that names the field, and the default pack."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import InvalidDefinition
from engine.risk import (
    Event,
    KeyKind,
    Rule,
    RuleAction,
    RuleKind,
    default_pack,
    default_pack_dicts,
    rule_to_dict,
    rules_from_dicts,
)

GOOD = {"id": "ip_5m", "kind": "count", "key": "ip", "window_s": 300, "threshold": 5}


def _error(items: list[Any]) -> InvalidDefinition:
    with pytest.raises(InvalidDefinition) as caught:
        rules_from_dicts(items)
    return caught.value


def test_a_count_rule_parses_into_a_rule() -> None:
    (rule,) = rules_from_dicts([{**GOOD, "action": "review"}])
    assert rule == Rule("ip_5m", RuleKind.COUNT, RuleAction.REVIEW, KeyKind.IP, 5, 300)
    assert rule.event is Event.CLAIM and not rule.shadow


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"threshold": -1}, "threshold"),
        ({"threshold": "5"}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"window_s": 0}, "window_s"),
        ({"window_s": 1e12}, "window_s"),
        ({"key": "mac"}, "key"),
        ({"kind": "velocity"}, "kind"),
        ({"action": "block"}, "action"),
        ({"action": "score"}, "points"),  # a score rule needs points
        ({"shadow": "yes"}, "shadow"),
        ({"id": "bad id!"}, "id"),
        ({"distinct": "customer"}, "distinct"),  # only distinct rules count distinct ids
        ({"amount_fen": 100}, "amount_fen"),
        ({"values": ["1.2.3.4"]}, "values"),
        ({"event": "refund"}, "event"),
        ({"action": "allow"}, "action"),
        ({"colour": "red"}, "colour"),
        ({"threshold": 1e9}, "threshold"),  # a key would keep 2e9 timestamps: capped
        ({"threshold": 10_001}, "threshold"),
        ({"per_stock": "yes"}, "per_stock"),
        ({"points": 1e12}, "points"),
    ],
)
def test_a_bad_rule_names_the_field_with_its_path(change: dict[str, Any], field: str) -> None:
    ok = {**GOOD, "action": "review"}
    error = _error([ok, ok | {"id": "second"}, ok | {"id": "third"}, {**ok, **change}])
    assert error.field == f"risk.rules[3].{field}"
    if field in change:  # the message names the field, its value and what was expected
        assert error.value == change[field] or error.value == list(change[field])
    assert error.expected and str(error) == (
        f"risk.rules[3].{field} = {error.value!r}: expected {error.expected}"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"threshold": -1}, "risk.rules[0].threshold = -1: expected a number >= 0"),
        ({"window_s": 0}, "risk.rules[0].window_s = 0: expected a number > 0"),
        ({"key": "mac"}, "risk.rules[0].key = 'mac': expected one of ip, ip24, device, phone, "
                         "card, customer, person"),
        ({"action": "score"}, "risk.rules[0].points = 0.0: expected a number > 0"),
        ({"colour": "red"}, "risk.rules[0].colour = 'red': expected no such key (allowed: "
                            "action, amount_fen, description, distinct, event, id, key, kind, "
                            "per_stock, points, shadow, threshold, values, window_s)"),
    ],
)  # fmt: skip
def test_the_message_names_the_field_the_value_and_what_was_expected(
    change: dict[str, Any], message: str
) -> None:
    assert str(_error([{**GOOD, "action": "review", **change}])) == message


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"id": "d", "kind": "distinct", "key": "device", "window_s": 60, "action": "reject"},
         "distinct"),
        ({"id": "d", "kind": "distinct", "key": "device", "distinct": "device", "window_s": 60,
          "action": "reject"}, "distinct"),
        ({"id": "a", "kind": "account_age", "action": "review"}, "threshold"),
        ({"id": "a", "kind": "account_age", "threshold": 60, "window_s": 60,
          "action": "review"}, "window_s"),
        ({"id": "s", "kind": "small_orders", "key": "device", "window_s": 60,
          "action": "reject"}, "amount_fen"),
        ({"id": "s", "kind": "small_orders", "key": "device", "window_s": 60, "amount_fen": 1,
          "event": "claim", "action": "reject"}, "event"),
        ({"id": "s", "kind": "small_orders", "key": "card", "window_s": 60, "amount_fen": 1,
          "action": "reject"}, "key"),  # a redemption carries no card
        ({"id": "b", "kind": "blocklist", "key": "ip", "threshold": 3, "action": "reject"},
         "threshold"),
        ({"id": "w", "kind": "allowlist", "key": "ip", "action": "reject"}, "action"),
        ({"kind": "count"}, "id"),
        ({"id": "x", "action": "reject"}, "kind"),
    ],
)  # fmt: skip
def test_each_kind_checks_what_it_needs(item: dict[str, Any], field: str) -> None:
    assert _error([item]).field == f"risk.rules[0].{field}"


def test_a_duplicate_rule_id_is_refused_at_its_position() -> None:
    item = {**GOOD, "action": "review"}
    assert _error([item, item]).field == "risk.rules[1].id"


def test_not_a_list_or_not_a_table_is_refused() -> None:
    assert _error("ip_5m").field == "risk.rules"  # type: ignore[arg-type]
    assert _error([42]).field == "risk.rules[0]"


def test_the_default_pack_has_at_least_ten_rules_with_the_design_thresholds() -> None:
    rules = {rule.rule_id: rule for rule in default_pack()}
    assert len(rules) >= 10
    device = rules["device_accounts_1d"]
    assert (device.kind, device.key, device.distinct) == ("distinct", "device", "customer")
    assert (device.window_s, device.threshold) == (86_400, 2)
    # design.md: "> 5 accounts per IP in 5 min, > 20 per IP a day": accounts, not claims
    for rule_id, window_s, threshold in (
        ("ip_accounts_5m", 300, 5),
        ("ip_accounts_1d", 86_400, 20),
    ):
        ip = rules[rule_id]
        assert (ip.kind, ip.key, ip.distinct) == ("distinct", "ip", "customer")
        assert (ip.window_s, ip.threshold, ip.per_stock) == (window_s, threshold, False)
    small = rules["small_orders_1h"]
    assert (small.key, small.window_s, small.threshold) == ("device", 3_600, 5)
    # one person's events count per stock: a pack of several stocks is not one stock claimed
    # several times; rules counting accounts or identifiers are campaign-wide
    scoped = {rule_id for rule_id, rule in rules.items() if rule.per_stock}
    assert scoped == {"person_claims_1d", "threshold_hugging_1d"}


def test_the_keyless_kinds_refuse_a_key_and_a_stock_scope_rather_than_ignore_them() -> None:
    age = {"id": "young", "kind": "account_age", "threshold": 3600, "action": "review"}
    error = _error([{**age, "key": "ip"}])
    assert (error.field, error.value) == ("risk.rules[0].key", "ip")
    assert "account_age" in str(error)
    assert _error([{**age, "key": "customer"}]).field == "risk.rules[0].key"  # even the default
    assert _error([{**age, "per_stock": True}]).field == "risk.rules[0].per_stock"
    assert _error([{**age, "threshold": 1e12}]).field == "risk.rules[0].threshold"
    block = {"id": "b", "kind": "blocklist", "key": "ip", "action": "reject"}
    assert _error([{**block, "per_stock": True}]).field == "risk.rules[0].per_stock"
    with pytest.raises(InvalidDefinition, match="key"):  # the Python API as well
        Rule("young", RuleKind.ACCOUNT_AGE, RuleAction.REVIEW, KeyKind.IP, threshold=5.0)


def test_a_threshold_over_the_cap_names_field_value_and_bound() -> None:
    error = _error([{**GOOD, "action": "review", "threshold": 1e9}])
    assert (error.field, error.value) == ("risk.rules[0].threshold", 1e9)
    assert "at most 10000" in str(error)


def test_per_stock_round_trips_and_is_left_out_when_false() -> None:
    (rule,) = rules_from_dicts([{**GOOD, "action": "review", "per_stock": True}])
    assert rule.per_stock and rule_to_dict(rule)["per_stock"] is True
    assert "per_stock" not in rule_to_dict(rules_from_dicts([{**GOOD, "action": "review"}])[0])


def test_default_pack_dicts_round_trip_and_are_fresh_copies() -> None:
    dicts = default_pack_dicts()
    assert rules_from_dicts(dicts) == default_pack()
    assert [rule_to_dict(rule) for rule in default_pack()] == dicts
    dicts[0]["threshold"] = 99
    assert default_pack_dicts()[0]["threshold"] != 99


def test_rule_to_dict_round_trips_every_field() -> None:
    item = {
        "id": "hug",
        "kind": "threshold_hugging",
        "key": "person",
        "window_s": 86400.0,
        "threshold": 2,
        "amount_fen": 500,
        "action": "score",
        "points": 25,
        "shadow": True,
        "description": "orders just above the threshold",
    }
    (rule,) = rules_from_dicts([item])
    assert rules_from_dicts([rule_to_dict(rule)]) == (rule,)


def test_rules_come_from_toml_tables() -> None:
    import tomllib

    text = """
    [[risk.rules]]
    id = "ip_5m"
    kind = "count"
    key = "ip"
    window_s = 300
    threshold = 5
    action = "review"
    shadow = true

    [[risk.rules]]
    id = "blocked"
    kind = "blocklist"
    key = "device"
    values = ["d-bad"]
    action = "reject"
    """
    ip_5m, blocked = rules_from_dicts(tomllib.loads(text)["risk"]["rules"])
    assert (ip_5m.kind, ip_5m.window_s, ip_5m.threshold, ip_5m.shadow) == ("count", 300, 5, True)
    assert (blocked.kind, blocked.values) == ("blocklist", ("d-bad",))
