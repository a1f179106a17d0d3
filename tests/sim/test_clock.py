"""The hourly clock: it calls the engine only when that can change something, and records exactly
what expiring and reading every stock every hour would."""

from __future__ import annotations

from pathlib import Path

import pytest
from simpy.events import ProcessGenerator

import sim.agents
from engine.engine import Engine
from engine.requests import ExpiryRequest
from sim.agents import HOUR_S, Harness
from sim.replication import replicate
from sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def naive_clock(h: Harness) -> ProcessGenerator:
    """The reference: expire and read every stock at the end of every hour."""
    for hour in range(h.hours):
        yield h.timeout(HOUR_S)
        until_s = h.start_s + (hour + 1) * HOUR_S
        request = ExpiryRequest(f"expire-{hour}", until_s)
        h.expired += h.engine.expire(request, until_s).expired_coupons
        for track in h.stocks:
            status = h.engine.status(track.stock_id)
            track.record(hour, status.reserved_fen, status.spent_fen, status.issued)


def count_expire_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    expire = Engine.expire

    def counted(self: Engine, request: ExpiryRequest, now_s: float) -> object:
        calls[0] += 1
        return expire(self, request, now_s)

    monkeypatch.setattr(Engine, "expire", counted)
    return calls


@pytest.mark.parametrize(
    ("name", "scale"), [("friday_flash_sale", 0.02), ("credit_card_season", 0.005)]
)
def test_the_clock_records_what_an_hourly_expiry_and_reading_would(
    name: str, scale: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.toml").scaled(scale)
    calls = count_expire_calls(monkeypatch)
    fast = replicate(scenario, seed=3)
    fast_calls = calls[0]
    monkeypatch.setattr(sim.agents, "clock", naive_clock)
    calls[0] = 0
    naive = replicate(scenario, seed=3)
    assert fast == naive  # every metric, every hourly level, the risk evaluation
    assert fast["metrics"]["expired_coupons"] > 0
    assert fast_calls < calls[0] / 4  # and most hours have nothing to expire


def test_a_horizon_of_a_fractional_hour_still_ends_with_the_final_levels(tmp_path: Path) -> None:
    # A fixed validity end at 10:30 makes the horizon end mid-hour: the clock's last tick falls
    # after the run, and the last hour must still hold what the engine says at the end.
    text = (SCENARIOS / "friday_flash_sale.toml").read_text(encoding="utf-8")
    path = tmp_path / "fixed_end.toml"
    path.write_text(text.replace("{days_after_claim = 7}", '{end = "+95d10:30"}'), "utf-8")
    scenario = load_scenario(path).scaled(0.02)
    final: list[int] = []

    def inspect(h: Harness) -> None:
        assert h.horizon_s % HOUR_S != 0
        final.extend(h.engine.status(track.stock_id).spent_fen for track in h.stocks)

    result = replicate(scenario, seed=1, inspect=inspect)
    assert final[0] > 0
    assert result["metrics"]["budget_spent_fen"] == final[0]
    assert result["timeseries"][-1][5] == final[0]  # the last hour's spent column
