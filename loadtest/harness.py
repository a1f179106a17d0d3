"""The run behind the locustfile: options, per-process context, the stock, CPU sampling.

:mod:`loadtest.locustfile` holds what Locust's user API is about (the users and the shape);
this module holds the harness around them, wired to Locust's events there:

- :func:`add_arguments` — the locustfile's command-line options (each also an environment
  variable ``COUPONLAB_LT_<NAME>``);
- :class:`RunContext` and :func:`run_context` — one per Locust process: the profile, the stock,
  the :class:`~loadtest.records.Recorder`, the attempts in flight;
- :func:`check_server` — fail fast (before any user starts) on a wrong host or token;
- :func:`on_test_start` — the master (or single process) makes the run id, removes an
  earlier run's records from ``--record-dir``, creates the test stock (opening
  ``window_opens_after_s`` later) and hands the run id, the stock id and the opening to the
  workers inside the options of their spawn message; ``run.json`` records them. Every process
  then names its records by the run id, starts its CPU sampler and, in the open model, its
  arrival clock (:mod:`loadtest.arrivals`);
- :func:`sample_cpu` — once a second: CPU, event-loop lag and running users of this process
  (a greenlet, on the sampling core it shares with the server's sampler, :mod:`loadtest.cpu`).

Importing this module does not import Locust (which monkey-patches the process at import), so
its option parsing can be tested in an ordinary process.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import psutil

from engine.errors import InvalidDefinition
from loadtest import stock as stocks
from loadtest.arrivals import Arrivals
from loadtest.cpu import CpuLog, ProcessCpu
from loadtest.profile import Profile, Target, load_target, profile_from_mapping
from loadtest.records import CPU_COLUMNS, Attempt, CpuSample, Recorder, record_files, record_name
from loadtest.server import ROOT, ServerError, request_json

ENV_PREFIX = "COUPONLAB_LT_"
DEFAULT_SCENARIO = ROOT / "scenarios" / "friday_flash_sale.toml"
_log = logging.getLogger("couponlab.loadtest")


def add_arguments(parser: Any) -> None:
    def option(name: str, default: Any, text: str, kind: type = str, env: str = "") -> None:
        env = env or ENV_PREFIX + name.strip("-").replace("-", "_").upper()
        parser.add_argument(name, type=kind, default=default, env_var=env, help=text)

    option("--scenario", str(DEFAULT_SCENARIO), "scenario TOML; its [load] table is the profile")
    option("--stock-id", "", "claim from this existing stock (default: create a fresh one)")
    option("--quota", 0, "quota of the created stock (0: the scenario's)", int)
    option("--admin-token", "", "the server's admin token", env="COUPONLAB_ADMIN_TOKEN")
    option("--profile-json", "", "JSON object of profile keys overriding the scenario's")
    option(
        "--window-open-s", 0.0, "epoch seconds of the opening (--stock-id: ask the server)", float
    )
    option("--record-dir", "loadtest-records", "directory for per-process outcome records")
    option("--lt-seed", 0, "seed of the simulated customers", int)
    option("--max-claims", 1_000_000, "bound on claim attempts per Locust process", int)
    option("--flash-shape", "on", "on: flash-sale shape; off: constant users from the profile")
    option("--run-id", "", "id naming this run's records (default: made when the test starts)")
    parser.add_argument(  # set by the master for its workers (their share of the arrival rate)
        "--lt-worker-count", type=int, default=0, help=argparse.SUPPRESS
    )


@dataclass
class RunContext:
    """Per-process state of the run: the profile, the stock, the recorder, in-flight calls.

    ``stock_id`` and ``open_s`` are known once the test starts (the master or the single
    process creates the stock and passes both to the workers with their spawn message)."""

    profile: Profile
    stock_id: str
    seed: int
    recorder: Recorder
    max_claims: int
    flash_shape: bool
    open_s: float = 0.0
    stock_table: dict[str, Any] = field(default_factory=dict)  # the scenario's, to copy
    quota: int = 0
    admin_token: str = ""
    scenario: str = ""  # the scenario's name
    started_s: float = field(default_factory=time.time)
    sent: int = 0
    in_flight: dict[int, Attempt] = field(default_factory=dict)
    run_tag: str = field(default_factory=lambda: os.urandom(4).hex())  # in request ids
    run_id: str = ""  # names the records of this test (the same in every process)
    arrivals: Arrivals | None = None  # the open model's arrival clock (processes with users)
    greenlets: list[Any] = field(default_factory=list)  # this test's sampler and clock

    def path(self) -> str:
        return f"/v1/stocks/{self.stock_id}/claims"

    def abandon_in_flight(self) -> None:
        """Attempts still waiting when the process stops: their fate is unknown."""
        now = time.time()
        for attempt in list(self.in_flight.values()):
            self.recorder.write(attempt._replace(done_s=now, outcome="in_flight"))
        self.in_flight.clear()
        self.recorder.flush()


_context: RunContext | None = None


def context() -> RunContext:
    """This process's run (installed by :func:`install` in Locust's init event)."""
    assert _context is not None, "the init event has not run"
    return _context


def install(run: RunContext | None) -> None:
    """Make ``run`` this process's run (``None``: uninstall, for tests)."""
    global _context
    _context = run


def profile_from_options(options: Any) -> tuple[Profile, Target]:
    """The scenario's profile and stock table, with ``--profile-json`` and ``-u/-r/-t`` applied."""
    target = load_target(Path(options.scenario))
    profile = target.profile
    if options.profile_json:
        try:
            overrides = json.loads(options.profile_json)
        except ValueError as error:
            raise InvalidDefinition(
                "--profile-json", options.profile_json, "a JSON object"
            ) from error
        if not isinstance(overrides, dict):
            raise InvalidDefinition("--profile-json", overrides, "a JSON object")
        profile = profile_from_mapping({**profile.to_dict(), **overrides}, "--profile-json")
    common = {"users": options.num_users, "spawn_rate": options.spawn_rate,
              "duration_s": options.run_time}  # fmt: skip
    return profile.replace(**common), target


def run_context(options: Any) -> RunContext:
    profile, target = profile_from_options(options)
    if options.max_claims < 1:
        raise InvalidDefinition("--max-claims", options.max_claims, "an integer >= 1")
    if options.quota < 0:
        raise InvalidDefinition("--quota", options.quota, "an integer >= 1 (0: the scenario's)")
    if options.flash_shape not in ("on", "off"):
        raise InvalidDefinition("--flash-shape", options.flash_shape, "on or off")
    return RunContext(
        profile, options.stock_id, options.lt_seed, Recorder(Path(options.record_dir)),
        options.max_claims, options.flash_shape == "on", options.window_open_s,
        target.stock_table, options.quota, options.admin_token, target.name,
    )  # fmt: skip


def check_server(host: str | None, run: RunContext) -> None:
    """Fail fast, before any user starts: a server at ``--host``, and a way to get a stock."""
    if not host:
        raise InvalidDefinition("--host", host, "the server's URL, e.g. http://127.0.0.1:8000")
    try:
        status, _ = request_json("GET", f"{host}/healthz", timeout_s=5)
    except OSError as error:
        raise ServerError(f"--host {host}: no couponlab server answers ({error})") from error
    if status != 200:
        raise ServerError(f"--host {host}: GET /healthz answered {status}")
    if run.stock_id:
        return
    if not run.admin_token:
        raise InvalidDefinition(
            "--admin-token", "", "the server's admin token (or COUPONLAB_ADMIN_TOKEN) to create "
            "the test stock, or --stock-id of an existing stock"
        )  # fmt: skip
    probe = f"{host}/v1/stocks/-/claims"  # an admin call: 401 unless the token is the server's
    if request_json("GET", probe, token=run.admin_token, timeout_s=5)[0] == 401:
        raise InvalidDefinition("--admin-token", "…", "the server's admin token (401 from it)")


def role_of(runner: Any) -> str:
    from locust.runners import MasterRunner, WorkerRunner  # not at import: see the docstring

    if isinstance(runner, MasterRunner):
        return "master"
    return "worker" if isinstance(runner, WorkerRunner) else "local"


def sample_cpu(run: RunContext, runner: Any) -> None:
    """Once a second: this process's CPU share (one core = 100), its event-loop lag (how late
    a 1 s sleep wakes up: a starved or saturated generator inflates every latency it
    measures) and its running users, into ``cpu-<run id>-<pid>.csv``; flush the records every
    5 s. A greenlet: the lag is only measured from inside the loop it measures."""
    own, role, pid = ProcessCpu(psutil.Process()), role_of(runner), os.getpid()
    directory = run.recorder.directory
    directory.mkdir(parents=True, exist_ok=True)
    with CpuLog(directory / record_name("cpu", run.run_id, pid), CPU_COLUMNS) as log:
        for tick in range(1, 1_000_000):
            before = time.monotonic()
            gevent.sleep(1.0)
            lag_ms = max(0.0, (time.monotonic() - before - 1.0) * 1000)
            users = 0 if role == "master" else int(runner.user_count)
            log.write(CpuSample(pid, role, time.time(), own.read(), lag_ms, users))
            if tick % 5 == 0:
                run.recorder.flush()


def on_test_start(environment: Any, **_kwargs: Any) -> None:
    """The shape's clock starts now: the master (or single process) fixes the run id, the
    stock and its opening and hands them to the workers in the options of their spawn
    message; every process then starts recording, sampling and (open model) arriving."""
    run = _context
    if run is None:
        return
    run.started_s = time.time()
    options = environment.parsed_options
    role = role_of(environment.runner)
    if role == "worker":
        run.stock_id, run.open_s = options.stock_id, float(options.window_open_s)
        run.run_id = options.run_id
        share = 1 / max(1, options.lt_worker_count)
    else:
        run.run_id = (options.run_id if options is not None else "") or new_run_id()
        remove_other_runs(run.recorder.directory, run.run_id)
        try:
            prepare_stock(run, environment.host or "")
        except (ServerError, InvalidDefinition) as error:
            _log.error("cannot prepare the stock: %s", error)
            environment.process_exit_code = 2
            gevent.spawn_later(0, environment.runner.quit)
            return
        if options is not None:
            options.stock_id, options.window_open_s = run.stock_id, run.open_s
            options.run_id, options.lt_worker_count = run.run_id, _workers(environment.runner)
        share = 1.0
    _begin(run, environment.runner, role, share)


def new_run_id() -> str:
    """A fresh run id: the local start time, ``x``, random bits (``20261201T202700x3f9a``).
    No ``-`` in it: record files are ``<kind>-<run id>-<pid>.csv``, split at the hyphens."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}x{os.urandom(2).hex()}"


def remove_other_runs(directory: Path, run_id: str) -> int:
    """Delete the claims and CPU records of every other run from ``directory`` (a reused
    ``--record-dir``); this run's files are never touched. Returns how many were deleted."""
    kinds = ("claims", "cpu")
    keep = {path for kind in kinds for path in record_files(directory, kind, run_id)}
    stale = [path for kind in kinds for path in record_files(directory, kind) if path not in keep]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        _log.info("removed %d record files of earlier runs from %s", len(stale), directory)
    return len(stale)


def _workers(runner: Any) -> int:
    """The Locust processes that run users: a master's workers, else this one."""
    return int(getattr(runner, "worker_count", 1) or 1)


def _begin(run: RunContext, runner: Any, role: str, share: float) -> None:
    """Start this process's part of the test: records named by the run id, the CPU sampler,
    and in the open model (processes with users) the arrival clock."""
    for greenlet in run.greenlets:
        greenlet.kill(block=False)
    run.recorder.begin(run.run_id)
    run.greenlets = [gevent.spawn(sample_cpu, run, runner)]
    run.arrivals = None
    if run.profile.open_model and role != "master" and run.open_s > 0:
        shape_start_s = run.open_s - run.profile.window_opens_after_s
        rng = random.Random(f"{run.seed}:arrivals:{os.getpid()}")
        run.arrivals = Arrivals(run.profile, share, shape_start_s, rng, run.flash_shape)
        run.greenlets.append(gevent.spawn(run.arrivals.run))


def prepare_stock(run: RunContext, host: str) -> None:
    """Create the test stock (window opening ``window_opens_after_s`` from now), or look up
    the opening of the ``--stock-id`` given; record both in ``run.json``."""
    created = not run.stock_id
    if created:
        run.open_s = round(run.started_s + run.profile.window_opens_after_s, 3)
        quota = run.quota or None
        table = stocks.fresh_stock(run.stock_table, run.open_s, run.profile.duration_s, quota)
        stocks.create(host, run.admin_token, table)
        run.stock_id = str(table["id"])
    elif run.open_s <= 0:
        run.open_s = stocks.window_start_s(host, run.stock_id)
    stocks.write_run(run.recorder.directory, run_id=run.run_id, stock_id=run.stock_id,
                     window_open_s=run.open_s, test_start_s=run.started_s, created=created,
                     host=host, scenario=run.scenario, seed=run.seed,
                     shape="flash" if run.flash_shape else "constant",
                     profile=run.profile.to_dict())  # fmt: skip
    _log.info("stock %s, window opens at %.3f (in %.1f s)", run.stock_id, run.open_s,
              run.open_s - time.time())  # fmt: skip


def on_test_stop(**_kwargs: Any) -> None:
    if _context is not None:
        if _context.arrivals is not None:  # no more arrivals (the sampler runs to the exit)
            _context.greenlets[-1].kill(block=False)
        _context.abandon_in_flight()


def on_quitting(**_kwargs: Any) -> None:
    finish()


@atexit.register
def finish() -> None:
    """Last words of a process (forked Locust workers may exit without a quitting event)."""
    if _context is not None:
        _context.abandon_in_flight()
        _context.recorder.close()
