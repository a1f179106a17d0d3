"""The ``[load]`` table: one parser (``sim.load``) for the forecast's scenario and the load test.

The shape is waiting + spike + decay; the test's length and the shape's follow each other:
without ``duration_s`` the test lasts the whole shape, with ``duration_s`` but no ``decay_s``
the decay is what the duration leaves.
"""

from __future__ import annotations

import dataclasses
import tomllib
from typing import Any

import pytest

from engine.errors import InvalidDefinition
from loadtest.profile import Profile, load_target, profile_from_mapping, shape_cut
from sim.load import LoadProfile, load_from_dict
from sim.scenario import load_scenario, resolved_toml, scenario_from_dict
from tests.sim.conftest import SCENARIOS

STOCKS = ("s",)
LOAD_FIELDS = {f.name for f in dataclasses.fields(LoadProfile)}


def _shape(profile: LoadProfile) -> tuple[float, float, float, float]:
    return (
        profile.window_opens_after_s,
        profile.spike_s,
        profile.decay_s,
        profile.duration_s,
    )


def test_the_defaults_are_one_whole_shape() -> None:
    default = LoadProfile()
    assert _shape(default) == (5, 10, 20, 35)
    assert load_from_dict({}, "load", STOCKS) == LoadProfile(stock="s")
    assert shape_cut(Profile()) == ""
    assert {f.name: f.default for f in dataclasses.fields(LoadProfile)} == {
        f.name: f.default for f in dataclasses.fields(Profile) if f.name in LOAD_FIELDS
    }  # the load test's profile has the same defaults (it extends LoadProfile)


@pytest.mark.parametrize(
    ("table", "shape"),
    [
        ({}, (5, 10, 20, 35)),
        ({"duration_s": 30}, (5, 10, 15, 30)),  # the shipped Friday profile
        ({"decay_s": 4, "spike_s": 4, "window_opens_after_s": 3}, (3, 4, 4, 11)),
        ({"duration_s": 12, "decay_s": 4}, (5, 10, 4, 12)),  # both set: kept (a cut shape)
        ({"duration_s": 8}, (5, 10, 0, 8)),  # the duration ends inside the spike: no decay
    ],
)
def test_a_missing_duration_or_decay_follows_the_other(
    table: dict[str, Any], shape: tuple[float, ...]
) -> None:
    assert _shape(load_from_dict(table, "load", STOCKS)) == shape
    assert _shape(profile_from_mapping(table)) == shape  # the load test parses the same way


@pytest.mark.parametrize(
    ("table", "field", "expected"),
    [
        ({"duration_s": 5}, "load.duration_s", "more than load.window_opens_after_s = 5"),
        ({"users": 0}, "load.users", "an integer >= 1"),
        ({"users": 2.5}, "load.users", "an integer >= 1"),
        ({"spawn_rate": 0}, "load.spawn_rate", "a number > 0"),
        ({"bot_share": 1.5}, "load.bot_share", "a share in 0..1"),
        ({"decay_s": float("nan")}, "load.decay_s", "a number >= 0"),
        ({"early_share": 0.8, "late_share": 0.3}, "load.late_share", "early_share + late_share"),
        ({"stock": 3}, "load.stock", "a stock id"),
    ],
)
def test_a_bad_value_is_named_the_same_by_both(
    table: dict[str, Any], field: str, expected: str
) -> None:
    with pytest.raises(InvalidDefinition) as sim_error:
        load_from_dict(table, "load", STOCKS)
    assert (sim_error.value.field, expected in sim_error.value.expected) == (field, True)
    if field == "load.duration_s":
        return  # the load test checks the duration after its command-line overrides
    with pytest.raises(InvalidDefinition) as test_error:
        profile_from_mapping(table)
    assert (test_error.value.field, test_error.value.expected) == (
        sim_error.value.field,
        sim_error.value.expected,
    )


def test_the_load_test_profile_of_a_scenario_is_the_scenario_profile() -> None:
    """The shipped Friday profile runs 5 + 10 + 15 = 30 s in the forecast's scenario and in the
    load test alike; the resolved scenario writes the fitted decay out and loads the same."""
    path = SCENARIOS / "friday_flash_sale.toml"
    scenario = load_scenario(path)
    assert _shape(scenario.load) == (5, 10, 15, 30)
    profile = load_target(path).profile
    assert {k: getattr(profile, k) for k in LOAD_FIELDS} == dataclasses.asdict(scenario.load)
    again = scenario_from_dict(tomllib.loads(resolved_toml(scenario)))
    assert (again.load, again.hash) == (scenario.load, scenario.hash)
