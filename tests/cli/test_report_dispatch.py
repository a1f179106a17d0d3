"""``couponlab report RUN_DIR`` tells a forecast from a load test and refuses anything else
with a message naming the file and what was expected (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from couponlab.cli import main
from couponlab.report import RunKindError, run_kind


def test_the_kind_of_run_comes_from_its_summary(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"verdict": {}, "seed": 1}))
    assert run_kind(tmp_path) == "loadtest"
    (tmp_path / "summary.json").write_text(json.dumps({"replications": 4, "metrics": {}}))
    assert run_kind(tmp_path) == "sim"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "summary.json: expected a readable file"),
        ("{not json", "summary.json: expected valid JSON"),
        ("[1, 2]", "summary.json: expected the summary of a forecast"),
        ('{"seed": 3}', "summary.json: expected the summary of a forecast"),
    ],
)
def test_a_directory_that_is_not_a_run_is_refused(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "summary.json").write_text(content)
    with pytest.raises(RunKindError, match=message):
        run_kind(tmp_path)


def test_the_command_answers_a_bad_run_dir_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("couponlab report: ") and "nowhere/summary.json" in err
    assert "Traceback" not in err


def test_a_load_test_run_with_a_broken_series_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"verdict": {"passed": True}}))
    (tmp_path / "timeseries.csv").write_text("t,rps\n0,fast\n")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "timeseries.csv: expected a readable CSV of numbers" in err
