"""Docking against theory: the simulation, driven through the real engine, reproduces what
queueing and probability say it must."""

from __future__ import annotations

from scipy import stats

from sim.replication import run_replication
from sim.runner import forecast, replication_seeds
from sim.scenario import load_scenario
from tests.sim.conftest import poisson_text


def test_sellout_time_follows_gamma_q_lambda(write_scenario) -> None:  # type: ignore[no-untyped-def]
    """Poisson claims at rate λ against quota Q: the Q-th claim comes at Gamma(Q, 1/λ)."""
    size, claim, quota, day_s = 1_000_000, 0.001, 50, 86_400.0
    scenario = load_scenario(write_scenario(poisson_text(quota=quota, validity=1)))
    rate = size * claim / day_s
    times = []
    for index, seed in enumerate(replication_seeds(2024, 100)):
        metrics = run_replication(scenario.raw, seed, index)["metrics"]
        assert metrics["sellout_probability"] == 1.0
        times.append(metrics["sellout_time_s"])
    result = stats.kstest(times, stats.gamma(a=quota, scale=1 / rate).cdf)
    assert result.pvalue > 0.01, result
    # …and not some other distribution: a 20% faster or slower rate is rejected
    for wrong in (0.8 * rate, 1.2 * rate):
        assert stats.kstest(times, stats.gamma(a=quota, scale=1 / wrong).cdf).pvalue < 0.01


def test_configured_redemption_probability_is_recovered(write_scenario) -> None:  # type: ignore[no-untyped-def]
    text = poisson_text(quota=100_000, redeem=0.3, validity=30)
    summary = forecast(load_scenario(write_scenario(text)), 10, seed=78)["summary"]
    rate = summary["metrics"]["redemption_rate"]
    low, high = rate["ci95"]
    assert low <= 0.3 <= high
    assert high - low < 0.03  # a tight interval, so the check has teeth


def test_expiry_reminder_raises_the_redemption_rate(write_scenario) -> None:  # type: ignore[no-untyped-def]
    base = poisson_text(quota=100_000, redeem=0.2, validity=7).replace(
        "mean_s = 600", "mean_days = 30"
    )
    lever = base + "\n[levers]\nexpiry_reminder = true\nreminder_response = 0.5\n"
    plain = load_scenario(write_scenario(base, "plain.toml"))
    reminded = load_scenario(write_scenario(lever, "reminded.toml"))
    compare = forecast(plain, 4, seed=3, other=reminded)["summary"]["compare"]["metrics"]
    assert compare["redemption_rate"]["difference"]["ci95"][0] > 0.1
