"""The gate's pure logic: normalising pytest-benchmark output, comparing runs, reading baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from couponlab.bench import (
    CALIBRATION,
    FORMAT,
    HEAP_CALIBRATION,
    BenchError,
    BenchRun,
    Score,
    best_of,
    combine_runs,
    compare,
    format_table,
    load_run,
    regressions,
    run_from_dict,
    run_from_pytest_json,
    run_to_dict,
    spread,
    verdict,
)
from couponlab.bench_scores import statistic_s


def pytest_json(
    medians: dict[str, float],
    min_share: float = 0.5,
    extra: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A minimal pytest-benchmark JSON document: the given medians, minimums at a share, and
    ``extra_info`` per benchmark name."""
    benchmarks = [
        {
            "name": name,
            "fullname": f"tests/benchmarks/x.py::{name}",
            "stats": {
                "median": median,
                "min": median * min_share,
                # 21 rounds: the fastest, 19 at the median (the 10th percentile is 3 tenths
                # of the way from the second to the third), one slow.
                "data": [median * min_share] + [median] * 19 + [median * 2],
            },
            "extra_info": (extra or {}).get(name, {}),
        }
        for name, median in medians.items()
    ]
    return {
        "benchmarks": benchmarks,
        "machine_info": {"node": "ci", "machine": "x86_64", "python_version": "3.11.7"},
        "commit_info": {"id": "abc123", "dirty": True},
    }


def bench_run(normalised: dict[str, float], calibration_s: float = 1e-4) -> BenchRun:
    scores = {
        CALIBRATION: Score(CALIBRATION, calibration_s * 1.5, calibration_s, calibration_s, 1.0)
    }
    for name, value in normalised.items():
        raw_s = value * calibration_s
        scores[name] = Score(name, raw_s * 1.5, raw_s, raw_s, value)
    return BenchRun("min", {"cpu": calibration_s}, scores, {}, None, "now")


def by_name(changes: list[Any]) -> dict[str, Any]:
    return {change.name: change for change in changes}


def test_scores_are_the_statistic_divided_by_the_calibrations() -> None:
    data = pytest_json({CALIBRATION: 2e-4, "test_bench_claim": 5e-5, "test_bench_sim": 1e-2})
    data["benchmarks"][1]["stats"]["min"] = 4e-5  # the claim's fastest round: 0.8 of its median
    by_median = run_from_pytest_json(data, "t", "median")
    assert by_median.calibration_s == {"cpu": 2e-4}
    assert by_median.scores["test_bench_claim"].normalised == pytest.approx(0.25)
    assert by_median.scores["test_bench_sim"].normalised == pytest.approx(50.0)
    assert by_median.scores[CALIBRATION].normalised == 1.0
    assert by_median.commit == "abc123+dirty"
    by_min = run_from_pytest_json(data, "t", "min")
    assert by_min.calibration_s == pytest.approx({"cpu": 1e-4})
    assert by_min.scores["test_bench_claim"].normalised == pytest.approx(0.4)
    assert by_min.scores["test_bench_claim"].median_s == 5e-5
    assert by_min.scores["test_bench_claim"].min_s == 4e-5


def test_p10_is_the_tenth_percentile_of_the_rounds() -> None:
    # Linear interpolation between the closest ranks, like numpy.percentile's default.
    assert statistic_s({"data": [float(v) for v in range(11, 0, -1)]}, "p10") == 2.0
    assert statistic_s({"data": [0.0, 10.0]}, "p10") == pytest.approx(1.0)
    assert statistic_s({"data": [3.0]}, "p10") == 3.0
    with pytest.raises(BenchError, match=r"stats.data = None: expected the rounds' times"):
        statistic_s({"min": 1.0, "median": 2.0}, "p10")


def test_one_lucky_calibration_round_moves_min_scores_not_p10_scores() -> None:
    # The failure seen in a gate run: one calibration round read far below the others.
    data = pytest_json({CALIBRATION: 2e-4, "test_bench_claim": 5e-5})
    calibration = data["benchmarks"][0]["stats"]
    calibration["data"][0] = calibration["min"] = 2e-5
    by_min = run_from_pytest_json(data, "t", "min")
    by_p10 = run_from_pytest_json(data, "t", "p10")
    assert by_min.scores["test_bench_claim"].normalised == pytest.approx(2.5e-5 / 2e-5)
    assert by_p10.calibration_s == {"cpu": 2e-4}
    assert by_p10.scores["test_bench_claim"].normalised == pytest.approx(0.25)


def test_a_slower_machine_gives_the_same_scores() -> None:
    fast = pytest_json({CALIBRATION: 1e-4, "test_bench_claim": 3e-5})
    slow = pytest_json({CALIBRATION: 3e-4, "test_bench_claim": 9e-5})
    fast_run, slow_run = (run_from_pytest_json(data, "t", "min") for data in (fast, slow))
    changes = compare(slow_run, fast_run, fail_above_pct=1.0)
    assert [(c.name, c.status) for c in changes] == [("test_bench_claim", "ok")]
    assert changes[0].change_pct == pytest.approx(0.0)


def test_a_run_without_calibration_is_refused() -> None:
    with pytest.raises(BenchError, match=CALIBRATION):
        run_from_pytest_json(pytest_json({"test_bench_claim": 1e-5}), "t", "min")


def test_regression_is_detected_strictly_above_the_threshold() -> None:
    baseline = bench_run({"at": 1.0, "above": 1.0, "below": 1.0, "faster": 1.0})
    current = bench_run({"at": 1.25, "above": 1.2501, "below": 1.1, "faster": 0.5})
    changes = by_name(compare(current, baseline, fail_above_pct=25.0))
    assert changes["at"].status == "ok"
    assert changes["at"].change_pct == pytest.approx(25.0)
    assert changes["above"].status == "regressed"
    assert changes["below"].status == "ok"
    assert changes["faster"].status == "improved"
    assert [c.name for c in regressions(list(changes.values()))] == ["above"]


def test_zero_threshold_fails_on_any_slowdown() -> None:
    changes = compare(bench_run({"a": 1.0001}), bench_run({"a": 1.0}), fail_above_pct=0.0)
    assert [c.status for c in changes] == ["regressed"]


def test_new_and_missing_benchmarks_are_reported_but_do_not_fail() -> None:
    baseline = bench_run({"kept": 2.0, "gone": 1.0})
    current = bench_run({"kept": 2.0, "added": 3.0})
    changes = compare(current, baseline, fail_above_pct=10.0)
    rows = by_name(changes)
    assert rows["added"].status == "new"
    assert rows["added"].current == 3.0 and rows["added"].baseline is None
    assert rows["gone"].status == "missing"
    assert rows["gone"].baseline == 1.0 and rows["gone"].current is None
    assert CALIBRATION not in rows
    assert regressions(changes) == []
    assert verdict(changes, 10.0).startswith("gate PASS: 0 regressed beyond +10%, 1 new, 1 missing")


def test_the_verdict_and_table_name_the_regression() -> None:
    current = bench_run({"test_bench_claim": 3.0})
    changes = compare(current, bench_run({"test_bench_claim": 1.0}), fail_above_pct=35.0)
    assert verdict(changes, 35.0).startswith("gate FAIL: 1 regressed")
    table = format_table(current, changes)
    claim_row = next(line for line in table.splitlines() if line.startswith("test_bench_claim"))
    assert "+200.0%" in claim_row and "regressed" in claim_row
    assert table.splitlines()[2].startswith(CALIBRATION)


def test_saved_runs_round_trip() -> None:
    run = run_from_pytest_json(
        pytest_json({CALIBRATION: 2e-4, "test_bench_claim": 5e-5}), "t", "min"
    )
    data = json.loads(json.dumps(run_to_dict(run)))
    assert data["format"] == FORMAT
    assert data["statistic"] == "min"
    claim = data["benchmarks"]["test_bench_claim"]
    assert claim == {
        "median_s": 5e-5,
        "min_s": 2.5e-5,
        "p10_s": 5e-5,  # the third of 21 rounds: the fastest, then 19 at the median
        "normalised": pytest.approx(0.25),
        "yardstick": "cpu",
        "reference": False,
    }
    assert run_from_dict(data, "x") == run


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(format="other"), "x: format"),
        (lambda d: d.update(calibration_s=-1), "x: calibration_s"),
        (lambda d: d.update(calibration_s={"cpu": -1}), "x: calibration_s.cpu"),
        (lambda d: d.update(calibration_s={"heap": 1e-3}), "x: calibration_s"),
        (lambda d: d["calibration_s"].update(disk=1.0), "x: calibration_s.disk"),
        (lambda d: d["benchmarks"]["b"].update(yardstick="heap"), "x: benchmarks.b.yardstick"),
        (lambda d: d["benchmarks"]["b"].update(reference="yes"), "x: benchmarks.b.reference"),
        (lambda d: d.update(statistic="mean"), "x: statistic"),
        (lambda d: d["benchmarks"]["b"].pop("min_s"), "x: benchmarks.b.min_s"),
        (lambda d: d.update(benchmarks=[]), "x: benchmarks"),
        (lambda d: d["benchmarks"]["b"].update(normalised="fast"), "x: benchmarks.b.normalised"),
        (lambda d: d["benchmarks"]["b"].update(median_s=float("nan")), "x: benchmarks.b.median_s"),
        (lambda d: d["benchmarks"].update(b=3), "x: benchmarks.b"),
    ],
)
def test_malformed_saved_runs_name_the_bad_key(mutate: Any, where: str) -> None:
    data = run_to_dict(bench_run({"b": 1.0}))
    mutate(data)
    with pytest.raises(BenchError) as caught:
        run_from_dict(data, "x")
    assert caught.value.where == where
    assert str(caught.value).startswith(f"{where} = ")


def test_baseline_files_that_cannot_be_read_name_flag_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(BenchError, match=r"--compare = '.*missing\.json': expected a readable"):
        load_run(missing, "--compare")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": ', encoding="utf-8")
    with pytest.raises(BenchError, match=r"--compare = '.*broken\.json': expected valid JSON"):
        load_run(broken, "--compare")
    wrong = tmp_path / "pytest-benchmark.json"
    wrong.write_text(json.dumps(pytest_json({CALIBRATION: 1e-4})), encoding="utf-8")
    with pytest.raises(BenchError, match=r"--compare .*pytest-benchmark\.json: format"):
        load_run(wrong, "--compare")


def test_repeated_runs_combine_to_the_median_of_each_number() -> None:
    runs = [
        bench_run({"a": 1.0, "b": 2.0}, calibration_s=1e-4),
        bench_run({"a": 1.9, "b": 2.2}, calibration_s=3e-4),  # an unlucky run
        bench_run({"a": 1.1}, calibration_s=2e-4),  # b did not run
    ]
    combined = combine_runs(runs)
    assert combined.scores["a"].normalised == pytest.approx(1.1)
    assert combined.scores["b"].normalised == pytest.approx(2.1)
    assert combined.calibration_s == pytest.approx({"cpu": 2e-4})
    assert combined.machine["runs"] == 3


def test_a_regression_that_does_not_repeat_is_dropped_and_one_that_does_is_kept() -> None:
    baseline = bench_run({"noisy": 1.0, "slowed": 1.0, "fine": 1.0})
    first = bench_run({"noisy": 1.8, "slowed": 2.0, "fine": 1.0})
    second = bench_run({"noisy": 1.02, "slowed": 2.1, "fine": 0.5})
    names = [change.name for change in regressions(compare(first, baseline, 35.0))]
    assert names == ["noisy", "slowed"]
    confirmed = best_of(first, second, names)
    assert confirmed.scores["noisy"].normalised == pytest.approx(1.02)
    assert confirmed.scores["slowed"].normalised == pytest.approx(2.0)  # the better of two
    assert confirmed.scores["fine"].normalised == pytest.approx(1.0)  # not re-examined
    assert [c.name for c in regressions(compare(confirmed, baseline, 35.0))] == ["slowed"]


def test_confirming_uses_the_faster_calibration_of_both_runs() -> None:
    # The re-run's calibration landed in a slow spell (2x): its raw times are what count.
    first = bench_run({"slowed": 2.0}, calibration_s=1e-4)
    second = bench_run({"slowed": 1.05}, calibration_s=2e-4)  # raw: 2.1e-4 s
    confirmed = best_of(first, second, ["slowed"])
    assert confirmed.calibration_s == {"cpu": 1e-4}
    assert confirmed.scores["slowed"].normalised == pytest.approx(2.0)
    assert confirmed.scores[CALIBRATION].normalised == pytest.approx(1.0)


def test_spread_reports_the_largest_deviation_from_the_median() -> None:
    runs = [bench_run({"a": value, "b": 2.0}) for value in (1.0, 1.1, 0.95, 1.0, 1.3)]
    table = spread(runs)
    assert set(table) == {"a", "b"}
    assert (table["a"].median, table["a"].lowest, table["a"].highest) == (1.0, 0.95, 1.3)
    assert table["a"].deviation_pct == pytest.approx(30.0)
    assert table["a"].raw_deviation_pct == pytest.approx(30.0)  # same calibration in every run
    assert table["b"].deviation_pct == 0.0


def test_spread_shows_what_normalising_removed() -> None:
    # The machine ran 20 % slower in the second run: raw times moved, normalised scores did not.
    runs = [bench_run({"a": 1.0}, calibration_s=1e-4), bench_run({"a": 1.0}, calibration_s=1.2e-4)]
    row = spread(runs)["a"]
    assert row.deviation_pct == 0.0
    assert row.raw_deviation_pct == pytest.approx(100 * (1.2 / 1.1 - 1))


def test_the_faster_of_the_first_and_last_calibration_is_the_yardstick() -> None:
    data = pytest_json(
        {f"{CALIBRATION}[first]": 3e-4, "test_bench_claim": 5e-5, f"{CALIBRATION}[last]": 2e-4}
    )
    run = run_from_pytest_json(data, "t", "median")
    assert run.calibration_s == {"cpu": 2e-4}
    assert run.scores["test_bench_claim"].normalised == pytest.approx(0.25)
    assert set(run.scores) == {CALIBRATION, "test_bench_claim"}
    assert run.scores[CALIBRATION].median_s == 2e-4


def test_a_benchmark_is_divided_by_the_yardstick_it_names() -> None:
    data = pytest_json(
        {
            CALIBRATION: 2e-4,
            HEAP_CALIBRATION: 2e-2,
            "test_bench_claim": 5e-5,
            "test_bench_sim": 1e-1,
        },
        extra={"test_bench_sim": {"yardstick": "heap"}},
    )
    run = run_from_pytest_json(data, "t", "median")
    assert run.calibration_s == {"cpu": 2e-4, "heap": 2e-2}
    assert run.scores["test_bench_claim"].normalised == pytest.approx(0.25)
    assert run.scores["test_bench_sim"].normalised == pytest.approx(5.0)
    assert run.scores["test_bench_sim"].yardstick == "heap"
    assert run.scores[HEAP_CALIBRATION].normalised == 1.0
    assert run_from_dict(json.loads(json.dumps(run_to_dict(run))), "x") == run


def test_a_machine_slower_only_for_large_heaps_gives_the_same_scores() -> None:
    # The CI machine of 2026-11-23: cache-resident work 1.27x slower, heap-heavy work 2.5x.
    medians = {CALIBRATION: 2e-4, HEAP_CALIBRATION: 2e-2, "test_bench_claim": 5e-5}
    medians["test_bench_sim"] = 1e-1
    slow = {
        name: value * (2.5 if "sim" in name or "heap" in name else 1.27)
        for name, value in medians.items()
    }
    extra = {"test_bench_sim": {"yardstick": "heap"}}
    fast_run, slow_run = (
        run_from_pytest_json(pytest_json(values, extra=extra), "t", "min")
        for values in (medians, slow)
    )
    changes = compare(slow_run, fast_run, fail_above_pct=1.0)
    assert [(c.name, c.status) for c in changes] == [
        ("test_bench_claim", "ok"),
        ("test_bench_sim", "ok"),
    ]


def test_a_yardstick_that_did_not_run_is_refused() -> None:
    data = pytest_json(
        {CALIBRATION: 2e-4, "test_bench_sim": 1e-1}, extra={"test_bench_sim": {"yardstick": "heap"}}
    )
    with pytest.raises(BenchError) as caught:
        run_from_pytest_json(data, "t", "min")
    assert caught.value.where == "test_bench_sim: extra_info.yardstick"
    assert "expected a yardstick that ran: one of cpu" in str(caught.value)


def test_reference_benchmarks_are_reported_and_never_gated() -> None:
    data = pytest_json(
        {CALIBRATION: 1e-4, "test_bench_bare": 1e-3, "test_bench_claim": 1e-5},
        extra={"test_bench_bare": {"reference": True}},
    )
    baseline = run_from_pytest_json(data, "t", "min")
    data["benchmarks"][1]["stats"]["min"] *= 3  # SimPy got 3x slower: not Couponlab's doing
    current = run_from_pytest_json(data, "t", "min")
    changes = by_name(compare(current, baseline, fail_above_pct=35.0))
    assert changes["test_bench_bare"].status == "reference"
    assert changes["test_bench_bare"].change_pct == pytest.approx(200.0)
    assert regressions(list(changes.values())) == []
    assert verdict(list(changes.values()), 35.0).endswith("1 reference (not gated)")
    row = next(line for line in format_table(current, None).splitlines() if "bare" in line)
    assert row.rstrip().endswith("reference")
