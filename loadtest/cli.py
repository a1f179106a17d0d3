"""``couponlab loadtest SCENARIO``: a flash-sale load test with a correctness verdict.

Starts ``couponlab serve`` with the chosen store and workers on a free loopback port, runs
Locust headless with :mod:`loadtest.locustfile` (one or several processes), bounded in time and
in claims — when its test starts, the locustfile creates the scenario's stock with its window
opening ``window_opens_after_s`` seconds later (the stock's weekly slots and eligibility are
dropped for the test) — stops everything it started, checks the invariants
(:mod:`loadtest.verdict`), and writes ``summary.json``, ``timeseries.csv``, PNG plots and
``report.html``.

Exit code: 0 when every invariant held and every threshold was met; 1 when an invariant failed
or a threshold (``--max-p99-ms``, ``--min-rps``, ``--min-issued-rps``, ``--max-error-rate``, or
the profile's) was missed; 2 for bad input or when the server or Locust could not run;
``128 + signal`` when SIGTERM, SIGHUP or SIGINT stopped it — after stopping Locust and the
server, the same cleanup for all three (:mod:`loadtest.lifetime`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.errors import InvalidDefinition
from loadtest.checker import Verdict
from loadtest.cpu import SERVER_CPU_FILE, ServerCpuSampler
from loadtest.flags import non_negative, positive_float, positive_int, share
from loadtest.lifetime import DIE_WITH_PARENT_ENV, Interrupted, child_preexec, interruptible
from loadtest.profile import Profile, Target, load_target, shape_cut
from loadtest.server import ServerError, ServerProcess, child_env
from loadtest.stock import read_run
from loadtest.verdict import conclude, fetch_view, print_verdict, run_facts

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
START_BOUND_S = 30.0  # Locust's start-up (imports, forking, workers connecting)
LOCUST_GRACE_S = 30.0  # beyond the duration and stop timeout before Locust is killed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("scenario", type=Path, help="scenario TOML (its [load] table is the profile)")
    add("--store", default="memory", help="memory | sqlite:PATH | redis://HOST:PORT/DB")
    add("--workers", type=positive_int, default=1, help="server worker processes (1)")
    add("--users", type=positive_int, help="peak concurrent users (profile: users)")
    add("--spawn-rate", type=positive_float, help="users started per second")
    add("--duration", type=positive_float, help="test length in seconds (profile: duration_s)")
    add("--arrival-rate", type=non_negative, help="open model: target claims/s (0 = closed)")
    add("--processes", type=positive_int, default=1, help="Locust processes (1)")
    add("--out", type=Path, help="run directory (default results/<scenario>/loadtest-…)")
    add("--quota", type=positive_int, help="override the stock's quota for the test")
    add(
        "--risk",
        choices=("scenario", "none", "default"),
        default="scenario",
        help="server risk pack (scenario: default when the scenario has risk rules)",
    )
    add("--shape", choices=("flash", "constant"), default="flash", help="load shape (flash)")
    add("--max-claims", type=positive_int, default=2_000_000, help="claim bound per process")
    add("--max-p99-ms", type=non_negative, help="threshold: p99 latency of all claims, ms")
    add(
        "--min-rps",
        type=non_negative,
        help="threshold: mean answered claims/s after the opening (any outcome)",
    )
    add(
        "--min-issued-rps",
        type=non_negative,
        help="threshold: mean coupons issued (201s)/s from the opening to the last coupon",
    )
    add("--max-error-rate", type=share, help="threshold: share of request ids left unknown")
    add("--seed", type=int, help="seed of the simulated customers (random when omitted)")
    add("--server-launcher", default="", help=argparse.SUPPRESS)  # tests: a broken server


def run(args: argparse.Namespace) -> int:
    """Run one load test; returns the exit code (see the module docstring)."""
    with interruptible():
        try:
            return _run(args)
        except Interrupted as stop:
            print(f"couponlab loadtest: {stop}: stopped Locust and the server it started; "
                  "no verdict", file=sys.stderr, flush=True)  # fmt: skip
            return stop.exit_code


def _run(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    print(f"seed={seed}", flush=True)
    try:
        target = load_target(args.scenario)
        profile = _profile(target.profile, args)
    except InvalidDefinition as error:
        print(f"couponlab loadtest: {args.scenario}: {error}", file=sys.stderr)
        return 2
    out = args.out or _default_out(target.name, seed)
    out.mkdir(parents=True, exist_ok=True)
    print(f"run directory: {out}\nstore: {args.store}, server workers: {args.workers}, "
          f"Locust processes: {args.processes}, users: {profile.users}", flush=True)  # fmt: skip
    cut = shape_cut(profile) if args.shape == "flash" else ""
    if cut:
        print(f"warning: the shape is truncated: {cut}", flush=True)
    try:
        verdict, misses, summary_path = _execute(args, target, profile, out, seed)
    except ServerError as error:
        print(f"couponlab loadtest: {error}", file=sys.stderr)
        return 2
    print_verdict(verdict, misses, summary_path)
    return 0 if verdict.passed and not misses else 1


def _profile(profile: Profile, args: argparse.Namespace) -> Profile:
    """The scenario's profile with the command line's overrides, checked as a whole."""
    changed = profile.replace(
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_s=args.duration,
        arrival_rate_per_s=args.arrival_rate,
        max_p99_ms=args.max_p99_ms,
        min_rps=args.min_rps,
        min_issued_rps=args.min_issued_rps,
        max_error_rate=args.max_error_rate,
    )
    if changed.duration_s <= changed.window_opens_after_s:
        name = "--duration" if args.duration is not None else "load.duration_s"
        raise InvalidDefinition(
            name, changed.duration_s,
            f"more than load.window_opens_after_s = {changed.window_opens_after_s:g} "
            "(the test starts that long before the window opens)",
        )  # fmt: skip
    return changed


def _default_out(name: str, seed: int) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("results") / name / f"loadtest-{stamp}-seed{seed}"


def _execute(
    args: argparse.Namespace, target: Target, profile: Profile, out: Path, seed: int
) -> tuple[Verdict, list[str], Path]:
    records = out / "records"
    if records.exists():  # a reused --out: an earlier run's records would join this verdict
        shutil.rmtree(records)
    risk = target.risk_pack if args.risk == "scenario" else args.risk
    log = out / "server.log"
    with ServerProcess(args.store, args.workers, seed, log, risk, args.server_launcher) as server:
        print(f"server: {server.url} (log {out / 'server.log'})", flush=True)
        assert server.process is not None
        with ServerCpuSampler(server.process.pid, out / SERVER_CPU_FILE):
            _run_locust(args, server, profile, records, seed, out)
        try:
            facts = run_facts(records)
        except ServerError as error:
            raise ServerError(f"{error}; Locust's log {out / 'locust.log'}:\n"
                              + _tail(out / "locust.log")) from None  # fmt: skip
        view = fetch_view(server, str(facts["stock_id"]))
    setup = {**facts, "scenario": target.name, "seed": seed, "store": args.store,
             "workers": args.workers, "processes": args.processes, "risk": risk}  # fmt: skip
    return conclude(out, records, view, setup, profile)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def stop_timeout_s(profile: Profile) -> int:
    """How long Locust lets a stopping user finish its claim: one attempt can take two socket
    timeouts (connect, read); beyond that it is killed and its attempt recorded in flight."""
    return math.ceil(2 * profile.timeout_s) + 1


def _run_locust(
    args: argparse.Namespace,
    server: ServerProcess,
    profile: Profile,
    records: Path,
    seed: int,
    out: Path,
) -> None:
    """Locust headless with the locustfile; the shape ends the test after ``duration_s``, a
    hard kill bounds it in any case."""
    stop_s = stop_timeout_s(profile)
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", server.url, "--only-summary", "--stop-timeout", str(stop_s),
        "--csv", str(out / "locust"), "--exit-code-on-error", "0",
    ]  # fmt: skip
    if args.processes > 1:
        command += ["--processes", str(args.processes)]
    env = _locust_env(args, server, profile, records, seed)
    limit_s = START_BOUND_S + profile.duration_s + stop_s + LOCUST_GRACE_S
    with (out / "locust.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=child_preexec(),  # SIGTERM from the kernel if this process dies
        )  # fmt: skip
        try:
            _watch(process, server, records, limit_s)
        finally:
            _stop_group(process)


def _locust_env(
    args: argparse.Namespace, server: ServerProcess, profile: Profile, records: Path, seed: int
) -> dict[str, str]:
    """The locustfile's options (``COUPONLAB_LT_*``) for this run."""
    return child_env(
        COUPONLAB_ADMIN_TOKEN=server.token,
        COUPONLAB_LT_SCENARIO=str(args.scenario.resolve()),
        COUPONLAB_LT_QUOTA=str(args.quota or 0),
        COUPONLAB_LT_PROFILE_JSON=json.dumps(profile.to_dict()),
        COUPONLAB_LT_RECORD_DIR=str(records),
        COUPONLAB_LT_LT_SEED=str(seed),
        COUPONLAB_LT_MAX_CLAIMS=str(args.max_claims),
        COUPONLAB_LT_FLASH_SHAPE="on" if args.shape == "flash" else "off",
        **{DIE_WITH_PARENT_ENV: "1"},  # forked Locust workers end with their master
        GEVENT_RESOLVER="block",  # see loadtest/locustfile.py: no thread-pool DNS at the peak
    )


def _watch(
    process: subprocess.Popen[bytes], server: ServerProcess, records: Path, limit_s: float
) -> None:
    """Print progress every 2 s until Locust exits; return (to be stopped) past ``limit_s``."""
    started = time.monotonic()
    last_issued = 0
    while process.poll() is None:
        time.sleep(min(2.0, max(0.1, limit_s - (time.monotonic() - started))))
        if time.monotonic() - started > limit_s:
            print(f"Locust overran its time bound ({limit_s:.0f} s); stopping it", file=sys.stderr)
            return
        facts = read_run(records)
        if facts is None:
            continue
        try:
            path = f"/v1/stocks/{facts['stock_id']}"
            issued = int(server.read(path)["status"]["issued"])
        except (ServerError, OSError, KeyError, ValueError):
            continue
        print(f"  t={time.time() - float(facts['window_open_s']):+6.1f}s from opening  "
              f"issued={issued} (+{issued - last_issued})", flush=True)  # fmt: skip
        last_issued = issued


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    for signum, wait_s in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, signum)
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return
