"""Scenario files: every shipped scenario loads; bad files give the named error."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine.errors import InvalidDefinition
from sim.runner import forecast
from sim.scenario import (
    LoadProfile,
    check_forecastable,
    load_scenario,
    resolved_toml,
    scenario_from_dict,
)
from tests.sim.conftest import SCENARIOS, poisson_text

SHIPPED = sorted(SCENARIOS.glob("*.toml"))
REQUIRED = {
    "friday_flash_sale",
    "new_card_first_swipe",
    "first_bind_gift",
    "dormant_reactivation",
    "wecom_lucky_draw",
    "credit_card_season",
}


def test_the_required_scenarios_are_shipped() -> None:
    assert {path.stem for path in SHIPPED} >= REQUIRED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_loads_and_its_resolved_form_round_trips(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.stocks and scenario.segments
    assert scenario.load.stock in {s.stock_id for s in scenario.stocks}
    again = scenario_from_dict(tomllib.loads(resolved_toml(scenario)))
    assert again.hash == scenario.hash
    assert again.stocks == scenario.stocks


def test_friday_flash_sale_matches_the_seed() -> None:
    scenario = load_scenario(SCENARIOS / "friday_flash_sale.toml")
    (friday,) = scenario.stocks
    assert (friday.value.face_fen, friday.value.threshold_fen, friday.quota) == (5000, 20000, 50000)
    assert [(lim.subject, lim.period, lim.count) for lim in friday.limits] == [("card", "day", 1)]
    from sim.population import openings

    slots = openings(friday, scenario.start_s, scenario.end_s)
    assert len(slots) == 13
    assert all(close - opened == 12 * 3600 for opened, close in slots)
    assert slots[0][0] == 10 * 3600  # the campaign starts on a Friday at 00:00


def test_wecom_lucky_draw_mean_is_about_3_88_yuan() -> None:
    (stock,) = load_scenario(SCENARIOS / "wecom_lucky_draw.toml").stocks
    assert stock.value.min_draw_fen == 188 and stock.value.max_fen == 18800
    assert sum(tier.weight for tier in stock.value.tiers) == pytest.approx(1.0, abs=1e-12)
    assert 383 <= stock.value.expected_fen <= 393


def test_credit_card_season_covers_seed_001_within_its_reward_budget() -> None:
    scenario = load_scenario(SCENARIOS / "credit_card_season.toml")
    ids = {s.stock_id for s in scenario.stocks}
    assert {"friday", "weekend", "travel_ticket", "hotel", "instalment", "first_bind"} <= ids
    assert {"first_swipe", "repay_1", "repay_2", "repay_3", "reswipe_50_10"} <= ids
    # 5,000,000 yuan in total, 2,500,000 of it for rewards and discounts: the stocks
    assert sum(s.budget_fen for s in scenario.stocks) <= 2_500_000 * 100
    assert scenario.flagship_stock == "friday"


def test_a_stock_open_all_season_has_no_opening_rush_by_default(write_scenario) -> None:  # type: ignore[no-untyped-def]
    text = poisson_text().replace("spike_share = 0.0\n", "")
    (segment,) = load_scenario(write_scenario(text)).segments
    assert segment.spike_share == (("s", 0.0),)
    weekly = text.replace('end = "+1d"}', 'end = "+1d", weekly = [{weekday = "fri", '
                          'start = "10:00", end = "22:00"}]}')  # fmt: skip
    (segment,) = load_scenario(write_scenario(weekly, "weekly.toml")).segments
    assert segment.spike_share == (("s", 0.3),)


def test_load_profile_defaults_follow_the_contract(write_scenario) -> None:  # type: ignore[no-untyped-def]
    load = load_scenario(write_scenario(poisson_text())).load
    assert load == LoadProfile(stock="s")
    assert (load.users, load.spawn_rate, load.bot_share, load.customers) == (
        2000,
        1000,
        0.1,
        100000,
    )


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ("claim_probability = 0.001", "claim_probability = 1.4", "segments[0].claim_probability",
         "a probability in 0..1"),
        ("claim_probability = 0.001", "claim_probability = \"high\"",
         "segments[0].claim_probability", "a probability in 0..1"),
        ("size = 1000000", "size = -3", "segments[0].size", "an integer in 0..100,000,000"),
        ("size = 1000000", "size = 100000000000000", "segments[0].size",
         "an integer in 0..100,000,000"),
        ("size = 1000000\nexposure_probability = 1.0\nclaim_probability = 0.001",
         "size = 50000000\nexposure_probability = 1.0\nclaim_probability = 0.5",
         "segments[0].claim_probability", "<= 10,000,000 expected claimers"),
        ("spike_share = 0.0", "spike_share = 0.0\nrepeat_probability = 1.0",
         "segments[0].repeat_probability", "< 1"),
        ("purchases_per_week = 0.0", "purchases_per_week = 1e9", "segments[0].purchases_per_week",
         "a number in 0..100"),
        ("spike_share = 0.0", "spike_share = {nope = 0.5}", "segments[0].spike_share.nope",
         "a stock of this segment"),
        ("spike_share = 0.0", "spike_share = {s = 2}", "segments[0].spike_share.s",
         "a probability in 0..1"),
        ("sigma = 0.5", "sigma = 50", "segments[0].amount.sigma", "a sigma <= 5"),
        ("mean_s = 600", "mean_s = 1e12", "segments[0].redeem_delay.mean_s",
         "a duration <= 3,650 days"),
        ("days = 1", "days = 1\ntimezone = 8", "campaign.timezone", "an IANA timezone"),
        ("[[segments]]", "[levers]\ncheckout_response = 2\n[[segments]]",
         "levers.checkout_response", "a probability in 0..1"),
        ('start = "+0d"', 'start = "+2d"', "stocks[0].window.end", "2026-12-06T00:00:00+08:00"),
        ("size = 1000000", "size = 10\nhair_colour = 1", "segments[0].hair_colour", "no such key"),
        ("kind = \"regular\"", "kind = \"vip\"", "segments[0].kind", "one of new"),
        ("quota = 50", "quota = 0", "stocks[0].quota", "an integer >= 1"),
        ("face_fen = 1000", "face_fen = \"10\"", "stocks[0].face_fen", "an integer"),
        ("days = 1", "days = 0", "campaign.days", "an integer in 1..366"),
        ("end = \"+1d\"", "end = \"tomorrow\"", "stocks[0].window.end", "ISO 8601"),
        ("mean_s = 600", "mean_s = -5", "segments[0].redeem_delay.mean_s", "a number > 0"),
        ("mean_s = 600", "mean_hours = 5", "segments[0].redeem_delay.mean_hours", "one of"),
        ("[[segments]]", "[load]\nusers = 0\n[[segments]]", "load.users", "an integer >= 1"),
        ("[[segments]]", "[load]\nstock = \"x\"\n[[segments]]", "load.stock", "the id of a stock"),
        ("[[segments]]", "[levers]\nexpiry_reminder = 1\n[[segments]]", "levers.expiry_reminder",
         "true or false"),
        ("[campaign]", "[campaing]\n[campaign]", "campaing", "no such key"),
        # 满20减50: every order from 20 to 50 yuan would be free
        ("face_fen = 1000", "face_fen = 5000\nthreshold_fen = 2000", "stocks[0].threshold_fen",
         "at least face_fen = 5000"),
        ('days = 1', 'days = 1\nflagship_stock = "nope"', "campaign.flagship_stock",
         "a stock id"),
        ("spike_share = 0.0", "spike_share = 0.0\nspike_delay = {dist = \"uniform\", "
         "low_days = 5, high_days = 2}", "segments[0].spike_delay.high_days",
         "at least low_days = 5"),
        ("activity_by_hour = [1", "activity_by_hour = [0", "segments[0].activity_by_hour[0]",
         "24 numbers in (0,"),
        ("spike_share = 0.0", "spike_share = 0.0\nattribution_days = -1",
         "segments[0].attribution_days", "a number in 0..366"),
    ],
)  # fmt: skip
def test_bad_scenario_names_key_value_and_expectation(
    write_scenario, old: str, new: str, field: str, expected: str
) -> None:  # type: ignore[no-untyped-def]
    text = poisson_text()
    assert old in text
    with pytest.raises(InvalidDefinition) as caught:
        load_scenario(write_scenario(text.replace(old, new, 1)))
    assert caught.value.field == field
    assert expected in caught.value.expected
    assert str(caught.value).startswith(f"{field} = ")


def test_a_forecast_refuses_a_window_reaching_outside_the_campaign(write_scenario) -> None:  # type: ignore[no-untyped-def]
    # claims are simulated only in the campaign: a window to "+200d" in a one-day campaign would
    # be cut silently. A load test uses only the stock, so loading the file accepts it.
    scenario = load_scenario(write_scenario(poisson_text().replace('end = "+1d"', 'end = "+200d"')))
    with pytest.raises(InvalidDefinition) as caught:
        check_forecastable(scenario)
    assert caught.value.field == "stocks[0].window.end"
    assert "at most the campaign's end 2026-12-05T00:00:00+08:00" in caught.value.expected
    with pytest.raises(InvalidDefinition, match=r"window\.end"):
        forecast(scenario, 1, seed=1)


def test_not_toml_and_missing_file_are_named(write_scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidDefinition, match="valid TOML"):
        load_scenario(write_scenario("[campaign\nname = 1"))
    with pytest.raises(InvalidDefinition, match="a readable file"):
        load_scenario(tmp_path / "nope.toml")


def test_relative_times_resolve_in_the_campaign_timezone(write_scenario) -> None:  # type: ignore[no-untyped-def]
    text = poisson_text(days=3).replace('end = "+3d"', 'end = "+2d10:30"')
    scenario = load_scenario(write_scenario(text))
    assert scenario.stocks[0].window.end_s - scenario.start_s == 2 * 86400 + 10.5 * 3600
    assert scenario.raw["stocks"][0]["window"]["end"] == "2026-12-06T10:30:00+08:00"


def test_population_scale_changes_sizes_and_hash(write_scenario) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario(write_scenario(poisson_text()))
    small = scenario.scaled(0.01)
    assert small.segments[0].size == 10_000
    assert small.hash != scenario.hash
    with pytest.raises(InvalidDefinition, match="population_scale"):
        scenario.scaled(0)


def test_weekly_openings_keep_wall_clock_time_on_a_daylight_saving_day() -> None:
    """Berlin springs forward on Sunday 2026-03-29: the 10:00 opening is 08:00 UTC that day
    (CEST) and 09:00 UTC the Sunday before (CET); neither is ``midnight + 10 h``."""
    import datetime as dt

    from engine.spec_io import parse_time, stock_from_dict
    from sim.population import openings

    start_s = parse_time("2026-03-22T00:00:00+01:00", "start")
    spec = stock_from_dict(
        {
            "id": "sunday",
            "kind": "voucher",
            "face_fen": 500,
            "quota": 10,
            "budget_fen": 5000,
            "timezone": "Europe/Berlin",
            "validity": {"days_after_claim": 7},
            "window": {
                "start": "2026-03-22T00:00:00+01:00",
                "end": "2026-03-30T00:00:00+02:00",
                "weekly": [{"weekday": "sun", "start": "10:00", "end": "22:00"}],
            },
        }
    )
    slots = openings(spec, start_s, start_s + 8 * 86_400)
    utc = [
        tuple(dt.datetime.fromtimestamp(start_s + t, dt.UTC).strftime("%m-%d %H:%M") for t in slot)
        for slot in slots
    ]
    assert utc == [("03-22 09:00", "03-22 21:00"), ("03-29 08:00", "03-29 20:00")]
