"""Specification of ``sim.report.render`` and ``couponlab report`` against generated run dirs.

The run directories are written by :func:`write_run_dir`: a small seeded generator with the
shapes of the run-directory contract (docs/contracts.md), so these tests do not depend on the
simulation. Expected strings are computed here from the generated summary, never hard-coded.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from couponlab import report as report_cli
from sim import report

STAGES = ("agents", "exposed", "claimed", "redeemed", "activated")
PLOTS = ("budget_burn", "claims_redemptions", "funnel", "sellout_time", "risk")
METRICS = (
    "claims",
    "redemptions",
    "redemption_rate",
    "budget_spent_fen",
    "budget_reserved_fen",
    "gmv_fen",
    "incremental_gmv_fen",
    "activated_customers",
    "incremental_active_customers",
    "cost_per_incremental_customer_fen",
    "sellout_probability",
    "sellout_time_s",
    "wool_puller_budget_share",
    "wool_puller_claims",
    "risk_rejections",
)
STOCKS = {"friday_200_50": (5000, 900), "online_20_5": (500, 6000)}  # face_fen, quota
ADVICE = {  # (passes design.md's enforcement rule, is shadow) -> recommendation
    (True, False): "enforce",
    (True, True): "enforce (ready, now shadow)",
    (False, False): "move to shadow",
    (False, True): "keep in shadow",
}
RULES = {  # rule_id: (tp, fp, fn, tn, shadow)
    "device_accounts_day": (400, 30, 100, 60_000, False),
    "ip_accounts_5min": (50, 400, 450, 59_700, False),
    "claim_latency": (300, 90, 200, 60_000, True),
}


# --- a seeded generator of run directories ---------------------------------------------------


def stats(values: list[float]) -> dict[str, Any]:
    """STATS as the contract defines them (normal-approximation CI; null when no values)."""
    finite = np.array([v for v in values if math.isfinite(v)])
    if finite.size == 0:
        return {"mean": None, "p5": None, "p50": None, "p95": None, "ci95": [None, None], "n": 0}
    mean = float(finite.mean())
    half = 1.96 * float(finite.std(ddof=1)) / math.sqrt(finite.size) if finite.size > 1 else 0.0
    p5, p50, p95 = (float(v) for v in np.percentile(finite, [5, 50, 95]))
    return {"mean": mean, "p5": p5, "p50": p50, "p95": p95, "ci95": [mean - half, mean + half],
            "n": int(finite.size)}  # fmt: skip


def simulate_stock(rng: np.random.Generator, face_fen: int, quota: int, hours: int) -> dict:
    """Hourly claims with a spike when the daily window opens (hour 10), lagged redemptions."""
    issued = redeemed = 0
    rows, sold_out_s = [], math.nan
    for hour in range(hours):
        rate = 180.0 if hour % 24 == 10 else (12.0 if 8 <= hour % 24 < 22 else 1.0)
        claims = min(int(rng.poisson(rate)), quota - issued)
        if claims and issued + claims == quota and math.isnan(sold_out_s):
            sold_out_s = hour * 3600 + float(rng.uniform(0, 3600))
        issued += claims
        redemptions = int(rng.binomial(issued - redeemed, 0.05))
        redeemed += redemptions
        reserved = (issued - redeemed) * face_fen
        rows.append([claims, redemptions, reserved, redeemed * face_fen, quota - issued])
    return {"rows": rows, "issued": issued, "redeemed": redeemed, "sold_out_s": sold_out_s}


def replication_metrics(rng: np.random.Generator, runs: dict[str, dict]) -> dict[str, float]:
    claims = sum(r["issued"] for r in runs.values())
    redemptions = sum(r["redeemed"] for r in runs.values())
    spent = sum(r["redeemed"] * STOCKS[s][0] for s, r in runs.items())
    sold = [r["sold_out_s"] for r in runs.values() if math.isfinite(r["sold_out_s"])]
    gmv = redemptions * float(rng.normal(26_000, 2_000))
    incremental = max(1, int(redemptions * 0.3))
    return {
        "claims": claims,
        "redemptions": redemptions,
        "redemption_rate": redemptions / claims,
        "budget_spent_fen": spent,
        "budget_reserved_fen": sum(r["rows"][-1][2] for r in runs.values()),
        "gmv_fen": round(gmv),
        "incremental_gmv_fen": round(gmv * 0.35),
        "activated_customers": int(redemptions * 0.8),
        "incremental_active_customers": incremental,
        "cost_per_incremental_customer_fen": spent / incremental,
        "sellout_probability": 1.0 if sold else 0.0,
        "sellout_time_s": min(sold) if sold else math.nan,
        "wool_puller_budget_share": float(rng.uniform(0.02, 0.08)),
        "wool_puller_claims": int(rng.integers(20, 80)),
        "risk_rejections": int(rng.integers(100, 300)),
    }


def risk_section() -> dict[str, Any]:
    rules = {}
    for rule_id, (tp, fp, fn, tn, shadow) in RULES.items():
        total = tp + fp + fn + tn
        rules[rule_id] = {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": tp / (tp + fp),
                          "recall": tp / (tp + fn), "legit_blocked_share": fp / total,
                          "money_saved_fen": tp * 5000, "shadow": shadow,
                          "flags": tp + fp}  # fmt: skip
    return {"rules": rules, "overall": {"precision": 0.6, "recall": 0.7, "money_saved_fen": 2e6}}


def write_run_dir(
    path: Path,
    *,
    seed: int = 7,
    replications: int = 6,
    hours: int = 60,
    sold_out: bool = True,
    risk: bool = True,
    compare: bool = False,
    name: str = "fixture_flash_sale",
) -> dict[str, Any]:
    """Write a complete run directory at ``path``; return its summary."""
    path.mkdir(parents=True, exist_ok=True)
    quotas = {s: (q if sold_out else 10**7) for s, (_, q) in STOCKS.items()}
    series, per_rep = [], []
    for rep in range(replications):
        rng = np.random.default_rng([seed, rep])
        runs = {s: simulate_stock(rng, STOCKS[s][0], quotas[s], hours) for s in STOCKS}
        series += [[rep, s, h, *row] for s, r in runs.items() for h, row in enumerate(r["rows"])]
        per_rep.append(replication_metrics(rng, runs))
    summary = build_summary(name, seed, per_rep, quotas, risk, compare, hours)
    write_files(path, summary, series, per_rep, seed)
    return summary


def build_summary(name, seed, per_rep, quotas, risk, compare, hours) -> dict[str, Any]:
    metrics = {m: stats([r[m] for r in per_rep]) for m in METRICS}
    segments = {}
    for index, segment in enumerate(("new", "dormant", "regular", "wool_puller", "新客")):
        agents = 20_000 / (index + 1)
        funnel = [agents, agents * 0.6, agents * 0.2, agents * 0.08, agents * 0.05]
        segments[segment] = {
            stage: stats([v * (1 + 0.05 * k) for k in range(len(per_rep))])
            for stage, v in zip(STAGES, funnel, strict=True)
        }
    summary: dict[str, Any] = {
        "scenario": name,
        "scenario_hash": "ab" * 32,
        "seed": seed,
        "replications": len(per_rep),
        "jobs": 1,
        "versions": {"couponlab": "0.1.0", "python": "3.11", "simpy": "4.1", "numpy": "2.0"},
        "population": 100_000,
        "days": hours / 24,
        "metrics": metrics,
        "stocks": {
            s: {
                "quota": quotas[s],
                "budget_fen": quotas[s] * face,
                "funding": "prepaid",
                "metrics": {"claims": metrics["claims"]},
            }
            for s, (face, _) in STOCKS.items()
        },
        "segments": segments,
        "risk": risk_section() if risk else None,
    }
    if compare:
        summary["compare"] = {
            "other": "variant_300_60",
            "metrics": {
                "claims": {"difference": stats([120.0 + 5 * k for k in range(6)])},
                "budget_spent_fen": {"difference": stats([-5e5, 4e5, -3e5, 2e5, 1e5, -1e5])},
                "redemption_rate": {"difference": stats([-0.02, -0.03, -0.025, -0.01])},
            },
        }
    return summary


def write_files(path: Path, summary, series, per_rep, seed) -> None:
    (path / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    start = "2025-01-03T00:00:00+08:00"
    (path / "scenario.toml").write_text(
        f'[campaign]\nname = "{summary["scenario"]}"\nstart = "{start}"\ndays = 3\n'
    )
    with (path / "timeseries.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(report.TIMESERIES_COLUMNS)
        writer.writerows(series)
    with (path / "replications.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["replication", "seed", *METRICS])
        for rep, row in enumerate(per_rep):
            cells = ["" if math.isnan(row[m]) else row[m] for m in METRICS]
            writer.writerow([rep, seed * 1000 + rep, *cells])


# --- render -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    run_dir = tmp_path_factory.mktemp("run") / "20250103-000000-seed7"
    summary = write_run_dir(run_dir, compare=True)
    report_path = report.render(run_dir)
    return run_dir, summary, report_path.read_text(encoding="utf-8")


def test_render_writes_every_plot_and_the_report(rendered) -> None:
    run_dir, _, page = rendered
    for name in PLOTS:
        png = (run_dir / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), name
        assert f'id="{name}"' in page
    assert (run_dir / "report.html").is_file()


def money(fen: float) -> str:
    yuan = round(fen) / 100
    return f"¥{yuan:,.2f}" if yuan < 10_000 else f"¥{yuan:,.0f}"


def test_headline_numbers_are_formatted_from_the_summary(rendered) -> None:
    _, summary, page = rendered
    metrics = summary["metrics"]
    claims = metrics["claims"]
    assert f"{claims['mean']:,.0f}" in page
    assert f"{claims['ci95'][0]:,.0f} to {claims['ci95'][1]:,.0f}" in page
    assert f"{claims['p5']:,.0f} to {claims['p95']:,.0f}" in page
    for name in ("budget_spent_fen", "incremental_gmv_fen", "cost_per_incremental_customer_fen"):
        stats_ = metrics[name]
        assert money(stats_["mean"]) in page, name
        assert f"{money(stats_['ci95'][0])} to {money(stats_['ci95'][1])}" in page, name
    for name in ("redemption_rate", "sellout_probability", "wool_puller_budget_share"):
        assert f"{metrics[name]['mean'] * 100:.1f}%" in page, name
    budget_fen = sum(stock["budget_fen"] for stock in summary["stocks"].values())
    assert f"of {money(budget_fen)} budget" in page
    minutes = round(metrics["sellout_time_s"]["mean"] / 60)
    assert f"{minutes // 60} h {minutes % 60:02d} min" in page


def test_report_is_self_contained(rendered) -> None:
    _, _, page = rendered
    assert "http://" not in page and "https://" not in page
    sources = re.findall(r"""(?:src|href)\s*=\s*["']?([^"' >]+)""", page)
    assert len(sources) == len(PLOTS)
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert "<link" not in page and "<script" not in page


def test_compare_marks_differences_whose_interval_excludes_zero(rendered) -> None:
    _, summary, page = rendered
    diffs = summary["compare"]["metrics"].values()
    excluded = sum(
        1 for d in diffs if d["difference"]["ci95"][0] > 0 or d["difference"]["ci95"][1] < 0
    )
    assert 0 < excluded < len(diffs)
    assert page.count('<tr class="sig">') == excluded
    assert "Compared: A = fixture_flash_sale, B = variant_300_60" in page
    assert "-¥5,000 to" in page or "to -¥" in page or "to +¥" in page  # words, not dashes


def test_risk_table_applies_the_enforcement_rule(rendered) -> None:
    _, _, page = rendered
    for rule_id, (tp, fp, fn, tn, shadow) in RULES.items():
        good = tp / (tp + fp) > 0.30 and fp / (tp + fp + fn + tn) < 0.005
        advice = ADVICE[good, shadow]
        row = re.search(rf'<tr><td class="l">{rule_id}</td>.*?</tr>', page)
        assert row is not None, rule_id
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))
        assert advice in cells, rule_id
        assert cells[1] == ("shadow" if shadow else "enforced")


def test_rerendering_is_idempotent(tmp_path: Path) -> None:
    write_run_dir(tmp_path, replications=3, hours=30, risk=False)
    first = report.render(tmp_path).read_bytes()
    pngs = {name: (tmp_path / f"{name}.png").read_bytes() for name in PLOTS}
    second = report.render(tmp_path).read_bytes()
    assert first == second
    assert pngs == {name: (tmp_path / f"{name}.png").read_bytes() for name in PLOTS}


def test_optional_sections_missing_render_cleanly(tmp_path: Path) -> None:
    summary = write_run_dir(tmp_path, sold_out=False, risk=False, hours=100, replications=3)
    assert summary["metrics"]["sellout_time_s"]["mean"] is None
    summary.pop("segments")
    summary.pop("stocks")
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = report.render(tmp_path).read_text(encoding="utf-8")
    assert "did not sell out in any replication" in page
    assert "No risk rules were evaluated" in page
    assert "Compared:" not in page
    assert all((tmp_path / f"{name}.png").is_file() for name in PLOTS)


def test_text_from_the_run_is_escaped(tmp_path: Path) -> None:
    write_run_dir(tmp_path, name="<b>sale</b>&co", replications=2, hours=12)
    page = report.render(tmp_path).read_text(encoding="utf-8")
    assert "<b>sale</b>" not in page
    assert "&lt;b&gt;sale&lt;/b&gt;&amp;co" in page


def test_sparse_timeseries_carries_levels_forward(tmp_path: Path) -> None:
    write_run_dir(tmp_path, replications=2, hours=10)
    lines = (tmp_path / "timeseries.csv").read_text().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",")[2] != "5"]
    (tmp_path / "timeseries.csv").write_text("\n".join(kept) + "\n")
    series = report.load_run(tmp_path).timeseries
    spent = series.columns["budget_spent_fen"]
    assert series.hours == 10
    assert np.array_equal(spent[:, :, 5], spent[:, :, 4])
    assert not series.columns["claims"][:, :, 5].any()


# --- couponlab report RUN_DIR -----------------------------------------------------------------


def run_cli(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="couponlab report")
    report_cli.add_arguments(parser)
    code = report_cli.run(parser.parse_args([str(run_dir)]))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_the_report_path(tmp_path: Path, capsys) -> None:
    write_run_dir(tmp_path, replications=2, hours=12)
    code, out, err = run_cli(tmp_path, capsys)
    assert code == 0, err
    assert out.strip().endswith(str(tmp_path / "report.html"))


@pytest.mark.parametrize(
    ("breakage", "named"),
    [
        (lambda d: (d / "summary.json").unlink(), "summary.json"),
        (lambda d: (d / "scenario.toml").unlink(), "scenario.toml"),
        (lambda d: (d / "summary.json").write_text("{not json"), "summary.json"),
        (lambda d: (d / "scenario.toml").write_text("= broken"), "scenario.toml"),
        (lambda d: (d / "timeseries.csv").write_text("replication,hour\n0,1\n"), "claims"),
        (
            lambda d: (d / "replications.csv").write_text("replication,seed,claims\n0,1,many\n"),
            "many",
        ),
        (
            lambda d: _edit_summary(d, lambda s: s["metrics"].update(claims={"mean": 1})),
            "metrics.claims",
        ),
        (lambda d: _edit_summary(d, lambda s: s.update(seed="x")), "seed"),
    ],
)
def test_cli_names_the_missing_or_malformed_input(tmp_path: Path, capsys, breakage, named) -> None:
    write_run_dir(tmp_path, replications=2, hours=6)
    breakage(tmp_path)
    code, out, err = run_cli(tmp_path, capsys)
    assert code == 2
    assert named in err and "expected" in err
    assert "Traceback" not in err and out == ""


def test_cli_refuses_a_missing_directory(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(tmp_path / "nowhere", capsys)
    assert code == 2
    assert "nowhere" in err and "Traceback" not in err


def _edit_summary(run_dir: Path, change) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    change(summary)
    (run_dir / "summary.json").write_text(json.dumps(summary))


def test_the_sellout_cards_name_the_flagship_stock(tmp_path: Path) -> None:
    summary = write_run_dir(tmp_path, replications=4)
    _edit_summary(tmp_path, lambda s: s.update(flagship_stock="friday_200_50"))
    page = report.render(tmp_path).read_text(encoding="utf-8")
    assert "Quota sold out: friday_200_50" in page
    assert summary["metrics"]["sellout_time_s"]["p50"] is not None
    median_s = summary["metrics"]["sellout_time_s"]["p50"]
    day = ("Fri 2025-01-03", "Sat 2025-01-04", "Sun 2025-01-05")[int(median_s // 86_400)]
    assert f"median: day {int(median_s // 86_400) + 1}, {day}" in page


def test_a_comparison_shows_a_b_and_the_difference_with_file_names(tmp_path: Path) -> None:
    write_run_dir(tmp_path, replications=3, hours=30, compare=True)

    def add_b(summary: dict[str, Any]) -> None:
        summary["scenario"] = summary["compare"]["other"] = "friday_flash_sale"
        summary["compare"]["other_metrics"] = {"claims": stats([900.0, 950.0, 1000.0])}

    _edit_summary(tmp_path, add_b)
    facts = {"jobs": 2, "scenario_file": "scenarios/friday_flash_sale.toml",
             "other_file": "variants/friday_flash_sale.toml", "population_scale": 0.5}  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(facts))
    page = report.render(tmp_path).read_text(encoding="utf-8")
    # same scenario name and same file name: the paths tell A from B
    assert "A = scenarios/friday_flash_sale.toml, B = variants/friday_flash_sale.toml" in page
    assert "friday_flash_sale − friday_flash_sale" not in page
    assert '950<br><span class="ci">' in page  # B's own mean, its interval below
    assert (
        "couponlab sim scenarios/friday_flash_sale.toml --seed 7 --replications 3 "
        "--population-scale 0.5 --compare variants/friday_flash_sale.toml" in page
    )
    assert "--compare RUN_DIR/other_scenario.toml" in page
