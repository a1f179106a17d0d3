"""The verdict and report of a finished load test; ``python -m loadtest.verdict`` for plain Locust.

``couponlab loadtest`` calls :func:`conclude` after Locust stopped. After a plain
``locust -f loadtest/locustfile.py`` run, the same verdict and report come from::

    COUPONLAB_ADMIN_TOKEN=secret python -m loadtest.verdict --host http://127.0.0.1:8000 \\
        --record-dir loadtest-records --out results/plain-run [--max-p99-ms 500 …]

It reads ``run.json`` and the records of that run (named by its run id: an earlier run's files
in the same directory are ignored) from ``--record-dir``, the stock, its claims
and its reconciliation from the server (admin token), checks, writes ``summary.json``, the CSV,
the PNG plots and ``report.html`` into ``--out``, prints the verdict. Exit code: 0 passed, 1 an
invariant failed or a threshold was missed, 2 bad input or the server could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from engine.errors import InvalidDefinition
from loadtest import report
from loadtest.checker import ServerView, Verdict, check
from loadtest.flags import non_negative, share
from loadtest.page import check_values
from loadtest.profile import Profile, profile_from_mapping
from loadtest.records import read_attempts, read_cpu
from loadtest.series import RunInfo
from loadtest.server import Remote, ServerError
from loadtest.stock import read_run


def fetch_view(server: Remote, stock_id: str) -> ServerView:
    """Everything the checker needs from the server, read after the load stopped."""
    stock = server.read(f"/v1/stocks/{stock_id}")
    claims = server.read(f"/v1/stocks/{stock_id}/claims")
    reconciliation = server.read(f"/v1/stocks/{stock_id}/reconciliation")
    return ServerView(
        stock["stock"], stock["status"], claims["claims"], claims["limits"], reconciliation
    )


def run_facts(records: Path) -> dict[str, Any]:
    """``run.json`` of the records (which stock, when it opened); :class:`ServerError` when
    the test never started."""
    facts = read_run(records)
    if facts is None or "stock_id" not in facts:
        raise ServerError(f"{records}: no run.json (the Locust test never started)")
    return facts


def conclude(
    out: Path, records: Path, view: ServerView, setup: dict[str, Any], profile: Profile
) -> tuple[Verdict, list[str], Path]:
    """Check the records against ``view`` and write the report into ``out``. ``setup``:
    ``scenario``, ``seed``, ``store``, ``workers``, ``processes``, ``risk`` and the
    ``run.json`` facts (``run_id``: only that run's records are read)."""
    run_id = str(setup.get("run_id", ""))
    attempts = list(read_attempts(records, run_id))
    if not attempts:
        raise ServerError(f"{records}: Locust recorded no claim (run {run_id or '?'})")
    open_s = float(setup["window_open_s"])
    verdict = check(attempts, view, open_s)
    info = RunInfo(
        str(setup["scenario"]), int(setup["seed"]), str(setup["store"]), int(setup["workers"]),
        int(setup["processes"]), profile, dict(view.stock), open_s, float(setup["test_start_s"]),
        str(setup.get("risk", "unknown")), str(setup.get("shape", "flash")), run_id,
    )  # fmt: skip
    summary_path, misses = report.write(out, info, attempts, records, view, verdict)
    return verdict, misses, summary_path


def print_verdict(verdict: Verdict, misses: list[str], summary_path: Path) -> None:
    """The verdict, the headline figures, the thresholds missed and where the report is."""
    print("verdict:", "PASS" if verdict.passed else "FAIL", "(invariants)")
    for item in verdict.checks:
        values = check_values(item.values)
        print(f"  [{'ok' if item.passed else 'FAIL'}] {item.name}: {values}"
              + (f" ({item.detail})" if item.detail and not item.passed else ""))  # fmt: skip
    _print_figures(summary_path)
    print("thresholds:", f"{len(misses)} missed" if misses else "all met (or none set)")
    for miss in misses:
        print(f"  [MISSED] {miss}")
    print(f"summary: {summary_path}\nreport: {summary_path.with_name('report.html')}")


def _print_figures(summary_path: Path) -> None:
    summary = json.loads(summary_path.read_text())
    rate, latency = summary["throughput"], summary["latency_ms"]
    print(
        f"throughput: {rate['mean_rps_after_open']} answered claims/s, "
        f"{rate['issued_rps_after_open']} coupons issued/s; p99 {latency['p99']} ms"
    )
    print(f"bottleneck: {summary['bottleneck']}")
    for warning in summary["load_generator_cpu"]["warnings"] + summary["server_cpu"]["warnings"]:
        print(f"  [warning] {warning}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        facts = run_facts(args.record_dir)
        server = Remote(args.host, args.admin_token)
        view = fetch_view(server, str(facts["stock_id"]))
        store = server.read("/healthz").get("store", "?")
        profile = _profile(facts, args)
        cpu = read_cpu(args.record_dir, str(facts.get("run_id", "")))
        processes = {s.pid for s in cpu if s.role != "master"}
        setup = {**facts, "store": store, "workers": 0, "processes": len(processes),
                 "risk": args.risk}  # fmt: skip
        args.out.mkdir(parents=True, exist_ok=True)
        verdict, misses, summary_path = conclude(args.out, args.record_dir, view, setup, profile)
    except (ServerError, InvalidDefinition) as error:
        print(f"loadtest.verdict: {error}", file=sys.stderr)
        return 2
    print_verdict(verdict, misses, summary_path)
    return 0 if verdict.passed and not misses else 1


def _profile(facts: dict[str, Any], args: argparse.Namespace) -> Profile:
    profile = profile_from_mapping(facts.get("profile", {}), "run.json profile")
    return profile.replace(
        max_p99_ms=args.max_p99_ms,
        min_rps=args.min_rps,
        min_issued_rps=args.min_issued_rps,
        max_error_rate=args.max_error_rate,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.verdict", description=__doc__.split("\n\n")[0]
    )
    add = parser.add_argument
    add("--host", required=True, help="the server the Locust run claimed from")
    add("--record-dir", type=Path, default=Path("loadtest-records"), help="Locust's records")
    add("--admin-token", default=os.environ.get("COUPONLAB_ADMIN_TOKEN", ""),
        help="the server's admin token (default: COUPONLAB_ADMIN_TOKEN)")  # fmt: skip
    add("--out", type=Path, default=Path("loadtest-report"), help="report directory")
    add("--max-p99-ms", type=non_negative, help="threshold: p99 latency of all claims, ms")
    add(
        "--min-rps",
        type=non_negative,
        help="threshold: mean answered claims/s (any outcome) after the opening",
    )
    add(
        "--min-issued-rps",
        type=non_negative,
        help="threshold: mean coupons issued (201s)/s from the opening to the last coupon",
    )
    add("--max-error-rate", type=share, help="threshold: share of request ids left unknown")
    add("--risk", default="unknown", help="the server's risk pack, for the report (unknown)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
