"""Helpers for the simulation tests: small scenarios written on the fly."""

from __future__ import annotations

from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

POISSON = """
[campaign]
name = "poisson"
start = "2026-12-04T00:00:00+08:00"
days = {days}

[[stocks]]
id = "s"
kind = "voucher"
face_fen = 1000
quota = {quota}
budget_fen = {budget}
window = {{start = "+0d", end = "+{days}d"}}
validity = {{days_after_claim = {validity}}}

[[segments]]
name = "crowd"
kind = "regular"
size = {size}
exposure_probability = 1.0
claim_probability = {claim}
redemption_probability = {redeem}
spike_share = 0.0
purchases_per_week = 0.0
redeem_delay = {{dist = "exponential", mean_s = 600}}
amount = {{dist = "lognormal", median_fen = 5000, sigma = 0.5}}
activity_by_hour = {flat}
"""

FLAT_DAY = "[" + ", ".join(["1"] * 24) + "]"  # no daily cycle: a homogeneous Poisson process


def poisson_text(**overrides: object) -> str:
    """A one-stock scenario whose claims form a Poisson process (uniform arrivals, binomial
    count with tiny p: the thinning limit)."""
    values: dict[str, object] = {
        "days": 1,
        "quota": 50,
        "budget": 10_000_000,
        "validity": 30,
        "size": 1_000_000,
        "claim": 0.001,
        "redeem": 0.3,
        "flat": FLAT_DAY,
    }
    values.update(overrides)
    return POISSON.format(**values)


@pytest.fixture
def write_scenario(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
