"""The locustfile under plain ``locust``: against a ``couponlab serve`` it creates its own stock,
honours ``-u/-r/-t``, records every attempt, and the verdict over its records passes — also
after an earlier run into the same record directory, and when a paused server makes clients
time out and retry (paused until a timeout is recorded: no race with the clock). Bad options
stop it at once with one line naming the option (exit 2, no traceback)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import configargparse
import pytest

from engine.errors import InvalidDefinition
from loadtest import harness, verdict
from loadtest.records import SETTLING, fates, read_attempts, record_files
from loadtest.server import ServerProcess, child_env
from loadtest.stock import read_run

LOCUSTFILE = Path(__file__).parents[2] / "loadtest" / "locustfile.py"
SCENARIO = Path(__file__).with_name("flash_small.toml")


def locust(
    *options: str, token: str = "", timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", *options]
    env = child_env(COUPONLAB_ADMIN_TOKEN=token)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)


@pytest.mark.slow
def test_plain_locust_creates_its_stock_and_passes_the_verdict(tmp_path: Path) -> None:
    records = tmp_path / "records"
    with ServerProcess("memory", 1, 5, tmp_path / "server.log") as server:
        wrong = locust("--host", server.url, "--scenario", str(SCENARIO), token="not-it")
        assert wrong.returncode == 2 and "--admin-token" in wrong.stderr
        assert "Traceback" not in wrong.stderr
        # an earlier run into the same record directory (another stock, other 201s)
        earlier = locust("--host", server.url, "--scenario", str(SCENARIO), "-u", "30", "-r",
                         "30", "-t", "4s", "--record-dir", str(records), "--lt-seed", "4",
                         token=server.token)  # fmt: skip
        assert earlier.returncode == 0, earlier.stderr[-2000:]
        first = read_run(records)
        assert first is not None and list(read_attempts(records, first["run_id"]))
        done = locust("--host", server.url, "--scenario", str(SCENARIO), "-u", "30", "-r",
                      "30", "-t", "6s", "--record-dir", str(records), "--lt-seed", "5",
                      token=server.token)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        run = read_run(records)
        assert run is not None and run["created"] and run["stock_id"].startswith("friday-small.")
        assert run["run_id"] != first["run_id"] and run["stock_id"] != first["stock_id"]
        assert run["window_open_s"] - run["test_start_s"] == pytest.approx(3, abs=0.05)
        assert not list(read_attempts(records, first["run_id"]))  # the master removed them
        attempts = list(read_attempts(records, run["run_id"]))
        assert {a.user_class for a in attempts} >= {"EarlyCustomer", "WoolPullerBot"}
        assert max(a.sent_s for a in attempts) < run["test_start_s"] + 7  # -t 6s, not 12 s
        out = tmp_path / "report"
        code = verdict.main(["--host", server.url, "--record-dir", str(records), "--out",
                             str(out), "--admin-token", server.token])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"]["passed"] and summary["stock_id"] == run["stock_id"]
    assert summary["throughput"]["attempts"] == len(attempts)
    assert (out / "report.html").stat().st_size > 0


@pytest.mark.slow
def test_clients_retry_a_paused_server_with_the_same_request_id_and_the_verdict_passes(
    tmp_path: Path,
) -> None:
    """Every user is an impatient app (it gives up after 0.2 s). The server is frozen (SIGSTOP)
    from before the opening until the records show a claim that timed out, then resumed: the
    claims sent meanwhile time out and are resent with the same request id, the resumed server
    answers them — and the verdict still holds. No timing is raced: the pause covers the
    opening, and it lasts until a timeout has been recorded."""
    records = tmp_path / "records"
    profile = {"early_share": 0, "late_share": 0, "bot_share": 0, "retry_share": 1}
    with ServerProcess("memory", 1, 6, tmp_path / "server.log") as server:
        assert server.process is not None
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                   "--host", server.url, "--scenario", str(SCENARIO), "-u", "30", "-r", "30",
                   "-t", "10s", "--record-dir", str(records), "--lt-seed", "6",
                   "--profile-json", json.dumps(profile), "--exit-code-on-error", "0"]  # fmt: skip
        env = child_env(COUPONLAB_ADMIN_TOKEN=server.token)
        with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as run:
            facts = _started(records, run)  # the stock exists: the server has answered its POST
            paused_s = time.time()
            os.killpg(server.process.pid, signal.SIGSTOP)
            try:
                _wait_for_a_recorded_timeout(records, facts["run_id"], run)
            finally:
                resumed_s = time.time()  # before SIGCONT: no answer can precede it
                os.killpg(server.process.pid, signal.SIGCONT)
            _, stderr = run.communicate(timeout=60)
        assert run.returncode == 0, stderr[-2000:]
        code = verdict.main(["--host", server.url, "--record-dir", str(records), "--out",
                             str(tmp_path / "report"), "--admin-token", server.token])  # fmt: skip
    assert code == 0
    assert paused_s < float(facts["window_open_s"])  # the pause covered the opening
    attempts = list(read_attempts(records, facts["run_id"]))
    assert all(a.done_s >= resumed_s for a in attempts if a.status)  # none answered in the pause
    timed_out = {a.request_id for a in attempts if a.outcome == "timeout" and a.sent_s < resumed_s}
    resent = {a.request_id for a in attempts if a.attempt > 1 and a.sent_s >= resumed_s}
    assert timed_out & resent, "no claim that timed out in the pause was resent after it"
    firsts = {a.request_id for a in attempts if a.attempt == 1}
    assert {a.request_id for a in attempts if a.attempt > 1} <= firsts  # resends of sent ids
    folded = fates(attempts)
    assert any(folded[rid].outcome in SETTLING for rid in timed_out & resent)  # answered at last
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["verdict"]["passed"] and summary["retried_attempts"] == sum(
        1 for a in attempts if a.attempt > 1
    )


def _started(records: Path, run: subprocess.Popen[str]) -> dict[str, Any]:
    """``run.json``, once the locustfile has created the stock and written it."""
    deadline = time.monotonic() + 30
    while (facts := read_run(records)) is None:
        assert run.poll() is None and time.monotonic() < deadline, "Locust did not start"
        time.sleep(0.05)
    return facts


def _wait_for_a_recorded_timeout(records: Path, run_id: str, run: subprocess.Popen[str]) -> None:
    """Until a claim of run ``run_id`` is recorded as timed out (Locust writes its records in
    blocks, at the latest every 5 s: only whole lines are read)."""
    deadline = time.monotonic() + 30
    while not any(_timed_out(path) for path in record_files(records, "claims", run_id)):
        assert run.poll() is None, "Locust ended before a claim timed out"
        assert time.monotonic() < deadline, "no claim timed out against the paused server"
        time.sleep(0.1)


def _timed_out(path: Path) -> bool:
    text = path.read_text()
    whole = text[: text.rfind("\n") + 1].splitlines()
    return any(row["outcome"] == "timeout" for row in csv.DictReader(whole))


def options(**changes: object) -> argparse.Namespace:
    """The locustfile's parsed options as Locust hands them over (defaults + ``changes``)."""
    parser = configargparse.ArgumentParser()  # Locust's parser (env_var=…), without Locust
    parser.add_argument("-u", dest="num_users", type=int)
    parser.add_argument("-r", dest="spawn_rate", type=float)
    parser.add_argument("-t", dest="run_time", type=int)
    harness.add_arguments(parser)
    return argparse.Namespace(**{**vars(parser.parse_args([])), **changes})


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"profile_json": '{"userz": 1}'}, "--profile-json.userz = 1"),
        ({"profile_json": "[1"}, "--profile-json = '[1'"),
        ({"scenario": "/nonexistent.toml"}, "/nonexistent.toml"),
        ({"max_claims": 0}, "--max-claims = 0"),
        ({"flash_shape": "maybe"}, "--flash-shape = 'maybe'"),
    ],
)
def test_a_bad_option_names_itself(changes: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidDefinition, match=re.escape(named)):
        harness.run_context(options(**changes))


def test_locusts_common_options_set_the_profile() -> None:
    run = harness.run_context(options(scenario=str(SCENARIO), num_users=7, spawn_rate=3.0,
                                      run_time=9))  # fmt: skip
    assert (run.profile.users, run.profile.spawn_rate, run.profile.duration_s) == (7, 3.0, 9)
    assert harness.run_context(options(scenario=str(SCENARIO))).profile.users == 60


def test_a_bad_option_stops_locust_with_one_line() -> None:
    result = locust("--host", "http://127.0.0.1:9", "--profile-json", '{"users": -1}')
    assert result.returncode == 2
    assert "--profile-json.users = -1: expected an integer >= 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_server_at_the_host_is_named() -> None:
    result = locust("--host", "http://127.0.0.1:9", "--scenario", str(SCENARIO), token="t")
    assert result.returncode == 2
    assert "--host http://127.0.0.1:9: no couponlab server answers" in result.stderr
