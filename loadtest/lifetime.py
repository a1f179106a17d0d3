"""How a load test ends when it is told to, and why what it started never outlives it.

A CI timeout, ``docker stop`` and a closed terminal send SIGTERM or SIGHUP, not Ctrl-C. Two
mechanisms make every way of ending ``couponlab loadtest`` stop the server and Locust:

- :func:`interruptible` — inside it, SIGTERM, SIGHUP and SIGINT raise :class:`Interrupted` in
  the main thread, once: the ``with``/``finally`` blocks that started the children stop them
  (the same cleanup for all three), then the command exits ``128 + signal``. A second signal
  during that cleanup is ignored, so it is not cut half-way.
- :func:`child_preexec` — the ``preexec_fn`` of every child: on Linux,
  ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` makes the kernel send the child SIGTERM when its parent
  dies, even by SIGKILL (which no handler sees). It covers the direct child; the server and
  Locust stop their own workers on SIGTERM, and forked Locust workers call
  :func:`die_with_parent` themselves (:mod:`loadtest.locustfile`). Elsewhere it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
DIE_WITH_PARENT_ENV = "COUPONLAB_LT_DIE_WITH_PARENT"  # set for Locust by couponlab loadtest


class Interrupted(BaseException):
    """The command was told to stop by ``signum``; exit code ``128 + signum``.

    A BaseException (like KeyboardInterrupt): no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM, SIGHUP and SIGINT raise :class:`Interrupted` (once) inside the block; the
    previous handlers come back after it. Outside the main thread it changes nothing
    (Python delivers signals to the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if fired:
            print(f"{signal.Signals(signum).name}: already stopping", file=sys.stderr)
            return
        fired.append(signum)
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, handler) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, loaded before any fork (the child only calls it); None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function: Any = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return function  # type: ignore[no-any-return]


def die_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel for ``signum`` when this process's parent dies; if ``parent_pid`` died
    already (before the request), send it now. Returns whether the request took effect."""
    prctl = _prctl()
    if prctl is None or prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent_pid:  # the parent died before the request: it would never fire
        os.kill(os.getpid(), signum)
    return True


def child_preexec() -> Callable[[], object] | None:
    """The ``preexec_fn`` for a child that must die with this process (None off Linux).

    It runs in the forked child before ``exec`` and only calls the ``prctl`` loaded here, in
    the parent (no import, no lock: safe although the parent has threads)."""
    if _prctl() is None:
        return None
    return functools.partial(die_with_parent, os.getpid())
