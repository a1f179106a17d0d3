"""A small thread pool for the blocking stores (SQLite, Redis), lighter than
``loop.run_in_executor``: a call is one queue put, one thread wake-up and one
``call_soon_threadsafe`` back to the event loop, with no :class:`concurrent.futures.Future`
in between. The calls waiting in the pool are what a SQLite group commit batches.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class StoreThreads:
    """``threads`` daemon threads running blocking calls for one event loop at a time."""

    def __init__(self, threads: int, name: str = "couponlab-store") -> None:
        if threads < 1:
            raise ValueError(f"threads = {threads}: expected >= 1")
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True)
            for index in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on a pool thread; its result or exception, awaited."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((loop, future, function, args))
        return await future

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, function, args = call
            try:
                result = function(*args)
            except BaseException as error:  # handed to the awaiting coroutine
                loop.call_soon_threadsafe(_fail, future, error)
            else:
                loop.call_soon_threadsafe(_resolve, future, result)

    def shutdown(self) -> None:
        """Let the queued calls finish, then stop every thread."""
        for _ in self._threads:
            self._calls.put(None)
        for thread in self._threads:
            thread.join()


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(error)
