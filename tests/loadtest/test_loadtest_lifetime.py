"""However ``couponlab loadtest`` ends, nothing it started outlives it.

SIGTERM (a CI timeout, ``docker stop``) and SIGHUP run the same cleanup as Ctrl-C and exit
``128 + signal``; SIGKILL, which no handler sees, still takes the server and Locust down with
it (the kernel's parent-death signal). Checked on a real run, once it is under way (polled: the
server's port, the Locust processes, a claims record): by PID, and by the port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadtest.lifetime import Interrupted, interruptible
from loadtest.records import record_files
from loadtest.server import child_env
from loadtest.stock import read_run

SCENARIO = Path(__file__).with_name("flash_small.toml")


def start_loadtest(out: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "couponlab.cli", "loadtest", str(SCENARIO), "--store",
               "memory", "--duration", "20", "--processes", "2", "--seed", "13", "--out",
               str(out)]  # fmt: skip
    return subprocess.Popen(
        command, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def started_children(parent: subprocess.Popen[str], out: Path) -> list[psutil.Process]:
    """The parent's descendants, once the load test is under way: the server answers on its
    port, the Locust master and its 2 workers run, and claims are being recorded. Polled (no
    sleep that assumes a start-up time); fails if the parent exits or nothing is under way
    within 60 s."""
    deadline = time.monotonic() + 60
    while True:
        assert parent.poll() is None, parent.communicate()
        assert time.monotonic() < deadline, "the load test did not get under way"
        try:
            children: list[psutil.Process] = psutil.Process(parent.pid).children(recursive=True)
            if under_way(children, out / "records"):
                return children
        except psutil.Error:  # a child came or went while being looked at
            pass
        time.sleep(0.1)


def under_way(children: list[psutil.Process], records: Path) -> bool:
    """The server listens, master + 2 workers run (forked workers share the master's command
    line) and a worker has recorded a finished claim of this run."""
    lines = [child.cmdline() for child in children]
    servers = [line for line in lines if "serve" in line and "--port" in line]
    if len(servers) != 1 or sum(1 for line in lines if "locust" in line) < 3:
        return False
    if port_free(server_port(children)):
        return False
    run = read_run(records)
    return run is not None and bool(record_files(records, "claims", str(run["run_id"])))


def server_port(children: list[psutil.Process]) -> int:
    for child in children:
        line = child.cmdline()
        if "serve" in line and "--port" in line:
            return int(line[line.index("--port") + 1])
    raise AssertionError(f"no server among {[c.cmdline() for c in children]}")


def gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def port_free(port: int) -> bool:
    """Nobody listens on ``port``: a new server could bind it (SO_REUSEADDR, as servers do:
    the closed connections' TIME_WAIT does not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
        return True


def wait_gone(children: list[psutil.Process], port: int, timeout_s: float) -> list[str]:
    """The children still alive (and the port, if still bound) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [f"{c.pid} {c.cmdline()}" for c in children if not gone(c)]
        if not alive and port_free(port):
            return []
        time.sleep(0.2)
    return alive + ([] if port_free(port) else [f"port {port} still bound"])


@pytest.mark.slow
def test_sigterm_stops_the_server_and_locust_and_exits_143(tmp_path: Path) -> None:
    parent = start_loadtest(tmp_path / "run")
    children = started_children(parent, tmp_path / "run")
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "serve" in names and "locust" in names and len(children) >= 4  # server, master, 2
    port = server_port(children)
    parent.send_signal(signal.SIGTERM)
    _, stderr = parent.communicate(timeout=60)
    assert parent.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM: stopped Locust and the server" in stderr
    assert wait_gone(children, port, timeout_s=5) == []


@pytest.mark.slow
def test_sigkill_still_takes_the_server_and_locust_down(tmp_path: Path) -> None:
    parent = start_loadtest(tmp_path / "run")
    children = started_children(parent, tmp_path / "run")
    port = server_port(children)
    parent.kill()  # no handler runs: only the kernel's parent-death signal is left
    parent.communicate(timeout=10)
    assert wait_gone(children, port, timeout_s=30) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_becomes_interrupted_once_and_the_handlers_come_back(signum: int) -> None:
    before = signal.getsignal(signum)
    with pytest.raises(Interrupted) as stop, interruptible():
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises before this ends
        finally:
            os.kill(os.getpid(), signum)  # a second signal during the cleanup is ignored
    assert stop.value.signum == signum and stop.value.exit_code == 128 + signum
    assert signal.getsignal(signum) is before
