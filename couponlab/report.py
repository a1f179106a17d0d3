"""Re-render the plots and report.html of a finished run, forecast or load test.

``couponlab report RUN_DIR`` reads only the run directory and rewrites its PNG plots and its
self-contained report.html, then prints the report's path. It tells the two kinds of run apart by
their ``summary.json``: a load test's carries a ``verdict``, a forecast's ``replications``.

Exit codes: 0 written, 2 a missing or malformed input (the message names the file and what was
expected).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class RunKindError(ValueError):
    """RUN_DIR is not a finished run: no readable summary.json of either kind."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``RUN_DIR``."""
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        type=Path,
        help="a run directory written by `couponlab sim` or `couponlab loadtest` "
        "(results/<scenario>/<run-id>/ or its --out)",
    )


def run_kind(run_dir: Path) -> str:
    """``"loadtest"`` or ``"sim"``, from ``run_dir/summary.json``; raises :class:`RunKindError`."""
    path = run_dir / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RunKindError(f"{path}: expected a readable file ({error.strerror})") from None
    except ValueError as error:
        raise RunKindError(f"{path}: expected valid JSON ({error})") from None
    if isinstance(summary, dict) and "verdict" in summary:
        return "loadtest"
    if isinstance(summary, dict) and "replications" in summary:
        return "sim"
    expected = "the summary of a forecast (key 'replications') or a load test (key 'verdict')"
    raise RunKindError(f"{path}: expected {expected}")


def run(args: argparse.Namespace) -> int:
    """Render ``args.run_dir``; print the report path, or the input error on stderr."""
    from loadtest.report import ReportInputError
    from loadtest.report import render as render_loadtest
    from sim.report import RunDirError
    from sim.report import render as render_forecast

    try:
        kind = run_kind(args.run_dir)
        render = render_loadtest if kind == "loadtest" else render_forecast
        report_path = render(args.run_dir)
    except (RunKindError, RunDirError, ReportInputError) as error:
        print(f"couponlab report: {error}", file=sys.stderr)
        return 2
    print(report_path)
    return 0
