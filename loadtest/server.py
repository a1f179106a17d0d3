"""Start and stop the issuance server for a load test, and talk to it over HTTP.

The server runs as a child process (``python -m couponlab.cli serve …``) on a free loopback
port with an admin token passed in the environment. :class:`ServerProcess` is a context manager:
whatever happens (errors, Ctrl-C, SIGTERM or SIGHUP turned into
:class:`~loadtest.lifetime.Interrupted`), the process group it started is terminated, then
killed; and the server gets SIGTERM from the kernel if this process dies without cleaning up
(:func:`~loadtest.lifetime.child_preexec`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from loadtest.lifetime import child_preexec

ROOT = Path(__file__).resolve().parent.parent  # the checkout holding engine/ and loadtest/
HOST = "127.0.0.1"  # loopback only: a load test never leaves the machine
START_TIMEOUT_S = 30.0


class ServerError(RuntimeError):
    """The server did not start, or answered an admin call unexpectedly."""


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this one's, with the checkout on ``PYTHONPATH`` (so
    children import the same code from any working directory), plus ``extra``."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), path) if p), **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def request_json(
    method: str, url: str, body: Any = None, token: str = "", timeout_s: float = 30.0
) -> tuple[int, Any]:
    """One JSON call; returns ``(status, decoded body)`` for 2xx and 4xx/5xx alike."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    call = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=timeout_s) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text or b"null")
        except ValueError:
            return error.code, {"error": "not_json", "message": text[:200].decode(errors="replace")}


class Remote:
    """A running server at ``url``, called with the admin ``token`` (the load test's reads)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return request_json(method, self.url + path, body, token=self.token)

    def read(self, path: str) -> Any:
        """``GET path`` → its JSON body; :class:`ServerError` unless 200."""
        try:
            status, reply = self.admin("GET", path)
        except OSError as error:
            raise ServerError(f"GET {self.url}{path} failed: {error}") from error
        if status != 200:
            raise ServerError(f"GET {path} answered {status}: {reply}")
        return reply


class ServerProcess(Remote):
    """``couponlab serve`` in a child process, stopped on exit of the ``with`` block.

    ``launcher`` replaces ``-m couponlab.cli`` (tests start a deliberately broken server with
    a script of their own that accepts the same ``serve`` arguments).
    """

    def __init__(
        self,
        store: str,
        workers: int,
        seed: int,
        log_path: Path,
        risk: str = "none",
        launcher: str = "",
    ) -> None:
        self.port = free_port()
        super().__init__(f"http://{HOST}:{self.port}", secrets.token_hex(16))
        target = [launcher] if launcher else ["-m", "couponlab.cli"]
        self.command = [sys.executable, *target, "serve", "--store", store, "--host", HOST,
                        "--port", str(self.port), "--workers", str(workers), "--seed", str(seed),
                        "--risk", risk]  # fmt: skip
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        env = child_env(COUPONLAB_ADMIN_TOKEN=self.token)
        log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True, preexec_fn=child_preexec(),
            )  # fmt: skip
        finally:
            log.close()
        try:
            self._wait_healthy()
        except BaseException:  # an error or a signal before the with block: __exit__ won't run
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise ServerError(f"server exited with {self.process.returncode}:\n{tail}")
            try:
                status, _ = request_json("GET", f"{self.url}/healthz", timeout_s=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"server not healthy after {START_TIMEOUT_S:.0f} s: {self.command}")

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL after 10 s."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=10)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def create_stock(self, table: dict[str, Any]) -> dict[str, Any]:
        status, reply = self.admin("POST", "/v1/stocks", table)
        if status not in (200, 201):
            raise ServerError(f"POST /v1/stocks answered {status}: {reply}")
        return dict(reply)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)  # the group: uvicorn workers are children
