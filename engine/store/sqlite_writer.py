"""Group commit for SQLite: one writer thread batches concurrent operations into one transaction.

Callers hand an operation (a function of the connection) to :meth:`GroupCommitWriter.submit` and
block, or to :meth:`GroupCommitWriter.submit_async` and await. The writer thread takes the first
waiting operation, then every other one already queued (up to ``max_batch``), and runs them in
order inside one ``BEGIN IMMEDIATE`` transaction, each in its own savepoint so that one failing
operation leaves the others intact. Operations that name the same *bulk* function and follow
each other in the queue (claims) run in one call of it, in one savepoint; if that call raises,
the savepoint is rolled back and each runs alone as above. Only after ``COMMIT`` returns — with
``synchronous=FULL``, after the WAL is on disk — does each caller get its own result: a blocked
caller by a lock the writer releases, the awaiting callers of one event loop by one
``call_soon_threadsafe`` per batch. So one fsync is shared by a whole batch, and an
acknowledged result is durable.

While one batch commits, new callers queue up; the next batch takes them all. Under load the
batch grows by itself, with no timer and no added latency when the store is idle.

``BEGIN IMMEDIATE`` takes SQLite's write lock for the batch, and every operation reads the
counters it needs inside the transaction, so several processes writing the same file are
serialised by SQLite itself (each waits up to the busy timeout for the lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from engine.errors import StoreUnavailable

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]
Bulk = Callable[[sqlite3.Connection, Sequence[Any]], Sequence[Any]]  # payloads -> results
log = logging.getLogger("couponlab.store")


class _Job:
    """One submitted operation and, once its batch committed, its result or error.

    A blocking caller waits on ``done``, a lock taken at creation and released by the writer
    (a bare lock is several times cheaper than an Event); an awaiting caller on ``future``,
    settled on its event loop. ``bulk``/``payload``: see :meth:`GroupCommitWriter.submit`."""

    __slots__ = ("bulk", "done", "error", "future", "loop", "operation", "payload", "result")

    def __init__(
        self,
        operation: Operation,
        bulk: Bulk | None,
        payload: Any,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.operation = operation
        self.bulk = bulk
        self.payload = payload
        self.loop = loop
        self.future: asyncio.Future[Any] | None = None
        self.done: threading.Lock | None = None
        if loop is None:
            self.done = threading.Lock()
            self.done.acquire()
        else:
            self.future = loop.create_future()
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommitWriter:
    """The single writer of one store. ``max_batch=1`` gives one transaction per operation."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], max_batch: int = 256, name: str = ""
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch = {max_batch}: expected >= 1")
        self._connect = connect
        self._name = name or "a store"  # for the log
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._finished = False  # the writer thread takes no more jobs
        self.batches = 0  # committed transactions (for measurement)
        self.operations = 0
        self.bulk_fallbacks = 0  # bulk runs that raised and were redone job by job
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopped: StoreUnavailable | None = None  # set if the writer thread died
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    def submit(
        self,
        operation: Callable[[sqlite3.Connection], T],
        bulk: Bulk | None = None,
        payload: Any = None,
    ) -> T:
        """Run ``operation`` in the next batch; return its result once the batch is committed.

        With ``bulk``, the writer may instead run ``bulk(connection, payloads)`` once for this
        job and its neighbours in the queue that name the same function, taking this job's
        result (or error, if it is an exception) from the list it returns; ``operation`` must
        give the same result alone (it is the fallback when ``bulk`` raises)."""
        job = self._put(_Job(operation, bulk, payload, None))
        assert job.done is not None
        while not job.done.acquire(timeout=1.0):  # released once the batch committed
            if self._stopped is not None:  # the writer is gone: never wait forever
                raise self._stopped
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[no-any-return]

    def submit_async(
        self,
        operation: Callable[[sqlite3.Connection], T],
        bulk: Bulk | None = None,
        payload: Any = None,
    ) -> asyncio.Future[T]:
        """:meth:`submit` for a caller on a running event loop: a future of that loop, settled
        once the batch is committed (or failed: :class:`StoreUnavailable` if the writer is
        closed or stopped)."""
        job = self._put(_Job(operation, bulk, payload, asyncio.get_running_loop()))
        assert job.future is not None
        return job.future

    def _put(self, job: _Job) -> _Job:
        if self._closed:
            job.error = StoreUnavailable("the SQLite store is closed")
            _deliver([job])
            return job
        self._queue.put(job)
        if self._finished:  # the writer may have drained the queue before this put
            self._fail_queued()
        return job

    def close(self) -> None:
        """Finish the queued operations, then stop the writer thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            connection = self._connect()
        except BaseException as error:  # reported to the constructor's caller
            self._startup_error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            stop = False
            while not stop:
                batch, stop = self._take()
                if batch:
                    self._commit(connection, batch)
        except BaseException as error:  # callers get StoreUnavailable (503), never a hang
            self._stopped = StoreUnavailable(f"the SQLite writer stopped: {type(error).__name__}")
            log.error("the SQLite writer of %s stopped on %s", self._name, type(error).__name__)
        finally:
            connection.close()
            self._finished = True
            self._fail_queued()

    def _fail_queued(self) -> None:
        """Answer every job still queued once the writer takes no more (closed or stopped)."""
        failure = self._stopped or StoreUnavailable("the SQLite store is closed")
        jobs = []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.result, job.error = None, failure
                jobs.append(job)
        _deliver(jobs)

    def _take(self) -> tuple[list[_Job], bool]:
        """The next batch: block for one job, then take what is already waiting."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _commit(self, connection: sqlite3.Connection, batch: list[_Job]) -> None:
        """One transaction for ``batch``. A SQLite error fails the batch (503 for its callers);
        anything else fails it too and stops the writer (see :meth:`_run`)."""
        try:
            connection.execute("BEGIN IMMEDIATE")
            for run in _runs(batch):
                if run[0].bulk is None:
                    _run_in_savepoint(connection, run[0])
                elif not _run_bulk(connection, run):
                    self.bulk_fallbacks += 1
            connection.execute("COMMIT")
            self.batches += 1
            self.operations += len(batch)
        except BaseException as error:
            _rollback(connection)
            failure = StoreUnavailable(f"SQLite transaction failed: {error!r}")
            for job in batch:  # nothing of this batch was committed
                job.result, job.error = None, failure
            if not isinstance(error, sqlite3.Error):
                raise
        finally:
            _deliver(batch)


def _runs(batch: list[_Job]) -> list[list[_Job]]:
    """``batch`` cut into runs: consecutive jobs of one bulk function, or single jobs."""
    runs: list[list[_Job]] = []
    for job in batch:
        if job.bulk is not None and runs and runs[-1][0].bulk is job.bulk:
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs


def _deliver(jobs: list[_Job]) -> None:
    """Wake every caller of ``jobs``: release blocked ones, settle futures once per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        if job.loop is None:
            assert job.done is not None
            job.done.release()
        else:
            by_loop.setdefault(job.loop, []).append(job)
    for loop, waiting in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits these any more
            loop.call_soon_threadsafe(_settle, waiting)


def _settle(jobs: list[_Job]) -> None:
    """On the jobs' event loop: each future gets its job's result or error (unless cancelled)."""
    for job in jobs:
        future = job.future
        assert future is not None
        if future.done():
            continue
        if job.error is not None:
            future.set_exception(job.error)
        else:
            future.set_result(job.result)


def _rollback(connection: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any; a failing rollback leaves SQLite to discard it."""
    try:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # the connection is closed or reopened next; an uncommitted batch is lost anyway


def _run_bulk(connection: sqlite3.Connection, jobs: list[_Job]) -> bool:
    """One call of the run's bulk function in one savepoint; if it raises, undo it and run
    each job's own operation alone (so an error stays with the job that causes it). False
    when it fell back so."""
    bulk = jobs[0].bulk
    assert bulk is not None
    connection.execute("SAVEPOINT bulk")
    try:
        answers = bulk(connection, [job.payload for job in jobs])
    except Exception:
        connection.execute("ROLLBACK TO bulk")
        connection.execute("RELEASE bulk")
        log.warning("a bulk run of %d failed; running its jobs one by one", len(jobs))
        for job in jobs:
            _run_in_savepoint(connection, job)
        return False
    connection.execute("RELEASE bulk")
    assert len(answers) == len(jobs)
    for job, answer in zip(jobs, answers, strict=True):
        if isinstance(answer, BaseException):
            job.error = answer
        else:
            job.result = answer
    return True


def _run_in_savepoint(connection: sqlite3.Connection, job: _Job) -> None:
    """Run one job; on an exception undo exactly its writes and keep the exception for it."""
    connection.execute("SAVEPOINT op")
    try:
        job.result = job.operation(connection)
    except Exception as error:
        connection.execute("ROLLBACK TO op")
        job.error = error
    connection.execute("RELEASE op")
