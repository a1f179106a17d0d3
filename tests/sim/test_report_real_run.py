"""``sim.report.render`` on the run directory of a real (small) forecast of a shipped scenario."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sim import report
from sim.runner import forecast, write_run
from sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
PLOTS = ("budget_burn", "claims_redemptions", "funnel", "sellout_time", "risk")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario = load_scenario(SCENARIOS / "friday_flash_sale.toml").scaled(0.02)
    outcome = forecast(scenario, replications=2, seed=11)
    run_dir, _, error = write_run(tmp_path_factory.mktemp("sim") / "run", scenario, outcome)
    assert error is None, error
    return run_dir


def test_a_real_run_directory_renders_completely(real_run: Path) -> None:
    page = report.render(real_run).read_text(encoding="utf-8")
    summary = json.loads((real_run / "summary.json").read_text(encoding="utf-8"))
    metrics = summary["metrics"]
    assert all((real_run / f"{name}.png").stat().st_size > 1000 for name in PLOTS)
    assert f"{metrics['claims']['mean']:,.0f}" in page
    spent_yuan = round(metrics["budget_spent_fen"]["mean"]) / 100
    assert (f"¥{spent_yuan:,.2f}" if spent_yuan < 10_000 else f"¥{spent_yuan:,.0f}") in page
    assert f"{metrics['redemption_rate']['mean'] * 100:.1f}%" in page
    assert summary["scenario_hash"] in page
    assert f"--seed {summary['seed']} --replications {summary['replications']}" in page
    sources = re.findall(r"""src\s*=\s*["']?([^"' >]+)""", page)
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    assert "http://" not in page and "https://" not in page


def test_the_report_written_by_the_run_is_what_rendering_again_gives(real_run: Path) -> None:
    written = (real_run / "report.html").read_bytes()
    assert report.render(real_run).read_bytes() == written


def test_the_report_states_its_assumptions_and_labels_gmv_plainly(real_run: Path) -> None:
    page = report.render(real_run).read_text(encoding="utf-8")
    assumptions = page.split("<h2>Assumptions</h2>")[1].split("<h2>")[0]
    regular = re.search(r'<tr><td class="l">regular</td>.*?</tr>', assumptions)
    assert regular is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", regular.group(0))
    # friday_flash_sale.toml, scaled by 0.02: 16,000 customers, 25% exposed, 12% claim, 30% use
    assert cells[:6] == ["regular", "regular", "16,000", "25.0%", "12.0%", "30.0%"]
    assert "wool_pullers" in assumptions and "5 × 4" in assumptions
    assert "Levers: none" in assumptions
    # gmv_fen is the whole population's card spend, never "GMV of coupon orders"
    assert "GMV of coupon orders (coupon_gmv_fen)" in page
    assert "Card spend of legitimate customers (all purchases, whole population) (gmv_fen)" in page
