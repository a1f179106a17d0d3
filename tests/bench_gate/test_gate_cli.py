"""``couponlab bench`` refuses bad input with a message naming the flag and the value."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from couponlab.bench import main

CONFTEST = Path(__file__).resolve().parents[1] / "benchmarks" / "conftest.py"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fail-above", "-5"], "argument --fail-above: '-5': expected a percent >= 0"),
        (["--fail-above", "ten"], "argument --fail-above: 'ten': expected a percent >= 0"),
        (["--fail-above", "nan"], "argument --fail-above: 'nan': expected a percent >= 0"),
        (["--rounds", "0"], "argument --rounds: '0': expected an integer >= 1"),
        (["--max-time", "-1"], "argument --max-time: '-1': expected seconds > 0"),
        (["--repeat", "0"], "argument --repeat: '0': expected an integer >= 1"),
        (["--confirm", "-1"], "argument --confirm: '-1': expected an integer >= 0"),
        (["--statistic", "mean"], "argument --statistic: invalid choice: 'mean'"),
        (["--timer", "sundial"], "argument --timer: invalid choice: 'sundial'"),
    ],
)
def test_bad_flags_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_baseline_is_refused_before_the_suite_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "baseline.json"
    assert main(["--compare", str(missing), "--save", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert f"--compare = '{missing}': expected a readable baseline file" in err
    assert "running:" not in err  # failed fast, no benchmark was run
    saved = {"format": "couponlab-bench/3", "statistic": "min", "benchmarks": {}}
    missing.write_text(json.dumps(saved), "utf-8")
    assert main(["--compare", str(missing)]) == 2
    assert (
        "calibration_s = None: expected an object yardstick -> seconds" in capsys.readouterr().err
    )
    missing.write_text(json.dumps({**saved, "calibration_s": {"cpu": 1e-4}}), "utf-8")
    assert main(["--compare", str(missing), "--statistic", "median"]) == 2
    assert "--statistic = 'median': expected 'min' as in the baseline" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def load_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_conftest_under_test", CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_injection_hook_parses_names_and_factors() -> None:
    conftest = load_conftest()
    assert conftest.parse_injections("") == {}
    assert conftest.parse_injections(" test_bench_claim=2.0, test_bench_sim[x]=1.5 ,") == {
        "test_bench_claim": 2.0,
        "test_bench_sim[x]": 1.5,
    }


@pytest.mark.parametrize("text", ["test_bench_claim", "test_bench_claim=0.5", "=2", "a=inf", "a=x"])
def test_the_injection_hook_refuses_bad_entries(text: str) -> None:
    conftest = load_conftest()
    with pytest.raises(pytest.UsageError, match=r"COUPONLAB_BENCH_INJECT = .*expected NAME=FACTOR"):
        conftest.parse_injections(text)


def test_the_slowdown_returns_the_targets_result() -> None:
    conftest = load_conftest()
    calls: list[tuple[int, str]] = []

    def target(n: int, tag: str) -> int:
        calls.append((n, tag))
        return n * 2

    wrapped = conftest.slowed(target, 3.0)
    assert wrapped(21, tag="x") == 42
    assert calls == [(21, "x")]


def test_the_slowdown_spins_on_the_clock_it_is_given() -> None:
    """The busy work is measured on the benchmark's timer: a call of 1 tick becomes 3 ticks."""
    conftest = load_conftest()
    ticks = iter(range(1_000))
    readings: list[int] = []

    def clock() -> float:
        readings.append(next(ticks))
        return float(readings[-1])

    wrapped = conftest.slowed(lambda: readings.append(-1), 3.0, clock)
    wrapped()
    # Started at tick 0, the call, finished at tick 1: the call took 1 tick, so the busy work
    # spins until tick 1 + 2 * 1 = 3 and the whole call lasts 3 ticks of this clock.
    assert readings == [0, -1, 1, 2, 3]


def test_a_baseline_measured_with_another_timer_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    saved = {
        "format": "couponlab-bench/3",
        "statistic": "p10",
        "timer": "wall",
        "calibration_s": {"cpu": 1e-4},
        "benchmarks": {},
    }
    baseline.write_text(json.dumps(saved), "utf-8")
    assert main(["--compare", str(baseline), "--save", str(tmp_path / "out.json")]) == 2
    assert "--timer = 'cpu': expected 'wall' as in the baseline" in capsys.readouterr().err
    baseline.write_text(json.dumps({**saved, "timer": "sundial"}), "utf-8")
    assert main(["--compare", str(baseline)]) == 2
    assert "timer = 'sundial': expected one of cpu, wall" in capsys.readouterr().err
