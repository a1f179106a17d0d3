"""The durable SQLite store: WAL, ``synchronous=FULL``, group commit, one file.

Every mutating call becomes an operation of :mod:`engine.store.sqlite_ops` that the single
writer thread of :mod:`engine.store.sqlite_writer` runs inside a ``BEGIN IMMEDIATE`` transaction
shared with the other calls waiting at that moment. A call returns only after its transaction
committed, so an acknowledged claim survives ``kill -9`` and power loss (WAL + FULL sync).

Several processes may open the same file (``couponlab serve --workers N``): each has its own
writer, ``BEGIN IMMEDIATE`` serialises their batches, every check reads its counters inside the
transaction, and a writer waits up to ``busy_timeout_s`` for the lock. Throughput does not grow
with processes (one file has one write lock), but correctness holds.

Reads (:meth:`status`, :meth:`coupons`, …) use one read connection per thread, which WAL lets
run beside the writer; :meth:`records` runs in one read transaction (one snapshot). Open the
store after ``fork()``, never before: the writer thread does not survive a fork. A file of
another schema version is refused at open (:mod:`engine.store.sqlite_schema`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from engine.coupon import Coupon
from engine.decide import ClaimPlan, check_order
from engine.errors import InvalidDefinition, StoreUnavailable, UnknownStock
from engine.ledger import LedgerEntry, StockStatus
from engine.outcomes import (
    BudgetResult,
    ClaimResult,
    ExpiryResult,
    Redemption,
    RedemptionResult,
    RefundResult,
)
from engine.requests import (
    BudgetAdjustment,
    ClaimRequest,
    ExpiryRequest,
    RedemptionRequest,
    RefundRequest,
)
from engine.rules import LimitKey, StockRules
from engine.spec_io import stock_from_dict
from engine.stock import StockSpec
from engine.store import codec, sqlite_ops, sqlite_reads
from engine.store.base import Request, Result, StockRecords
from engine.store.sqlite_claims import ClaimWork, claim_all
from engine.store.sqlite_schema import SCHEMA_VERSION, set_up
from engine.store.sqlite_writer import GroupCommitWriter

__all__ = ["SCHEMA_VERSION", "SqliteStore"]
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


class SqliteStore:
    """A :class:`~engine.store.base.Store` in one SQLite file.

    ``max_batch`` bounds a group commit (1 = one transaction per call, for comparison);
    ``busy_timeout_s`` is how long a writer waits for another process's write lock.
    ``early_replay_reads=False`` makes :meth:`prior` answer None for a claim without reading:
    the claim's transaction (or :meth:`record`'s) finds a replay anyway and returns the first
    outcome, so every answer is the same, one read cheaper. Only what runs before the store sees
    the difference: a risk gate would assess the replay again. The HTTP server turns it off
    when it has no risk gate.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_batch: int = 256,
        busy_timeout_s: float = 30.0,
        early_replay_reads: bool = True,
    ):
        text = str(path)
        if not text or text == ":memory:":
            raise InvalidDefinition("store", f"sqlite:{text}", "sqlite:PATH with a file path")
        self.path = Path(text)
        if not self.path.parent.is_dir():
            raise InvalidDefinition("store", f"sqlite:{text}", "a path in an existing directory")
        self._busy_timeout_s = busy_timeout_s
        self._early_replay_reads = early_replay_reads
        self._specs: dict[str, StockSpec] = {}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer = GroupCommitWriter(self._connect_writer, max_batch, str(self.path))

    # -- connections ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot open SQLite file {self.path}: {error}") from error
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = OFF")
        return connection

    def _connect_writer(self) -> sqlite3.Connection:
        connection = self._connect()
        try:
            set_up(connection, self.path)  # before WAL: a refused file is left as it was
        except sqlite3.Error as error:
            connection.close()
            raise StoreUnavailable(f"cannot set up SQLite file {self.path}: {error}") from error
        except StoreUnavailable:
            connection.close()
            raise
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreUnavailable(f"SQLite file {self.path} refused WAL mode (got {mode})")
        return connection

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
            with self._readers_lock:
                self._readers.append(connection)
        return connection

    # -- stocks -----------------------------------------------------------------------------

    def create_stock(self, spec: StockSpec, request_id: str, now_s: float) -> StockStatus:
        status = self._writer.submit(
            lambda c: sqlite_ops.create_stock(c, spec, request_id, now_s, partial(self._spec_in, c))
        )
        self._specs.setdefault(spec.stock_id, spec)
        return status

    def spec(self, stock_id: str) -> StockSpec:
        spec = self._specs.get(stock_id)
        if spec is None:
            spec = self._specs[stock_id] = self._load_spec(self._reader(), stock_id)
        return spec

    def _spec_in(self, connection: sqlite3.Connection, stock_id: str) -> StockSpec:
        """The spec, read through ``connection`` when not cached (inside the writer)."""
        spec = self._specs.get(stock_id)
        if spec is None:
            spec = self._specs[stock_id] = self._load_spec(connection, stock_id)
        return spec

    @staticmethod
    def _load_spec(connection: sqlite3.Connection, stock_id: str) -> StockSpec:
        row = connection.execute("SELECT spec FROM stocks WHERE stock_id = ?", (stock_id,))
        found = row.fetchone()
        if found is None:
            raise UnknownStock(stock_id)
        return stock_from_dict(codec.loads(found[0]), f"stored stock {stock_id}")

    # -- idempotency ------------------------------------------------------------------------

    def prior(self, request: Request) -> Result | None:
        if not self._early_replay_reads and isinstance(request, ClaimRequest):
            return None  # the claim's transaction finds it
        reader = self._reader()
        scope = sqlite_reads.scope_in(reader, request)
        if scope is None:
            return None
        return sqlite_reads.prior_of(
            reader, scope, request.request_id, codec.encode_request(request)
        )

    def record(self, request: Request, result: Result) -> Result:
        text = codec.encode_request(request)
        return self._writer.submit(lambda c: sqlite_ops.record(c, request, text, result))

    def record_async(
        self, request: ClaimRequest, result: ClaimResult
    ) -> asyncio.Future[ClaimResult]:
        """:meth:`record` of a claim's outcome for a caller on an event loop: a future of the
        first outcome recorded for its id."""
        text = codec.encode_request(request)
        return self._writer.submit_async(
            lambda c: sqlite_ops.record(c, request, text, result)  # type: ignore[arg-type,return-value]
        )

    # -- mutations --------------------------------------------------------------------------

    def claim(
        self, rules: StockRules, plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...]
    ) -> ClaimResult:
        work = self._claim_work(rules, plan, flagged, reasons)
        return self._writer.submit(partial(_claim_alone, work), claim_all, work)

    def claim_async(
        self, rules: StockRules, plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...]
    ) -> asyncio.Future[ClaimResult]:
        """:meth:`claim` for a caller on an event loop: a future settled once the claim's batch
        is committed (the claims of one batch are admitted together, in order: see
        :mod:`engine.store.sqlite_claims`)."""
        work = self._claim_work(rules, plan, flagged, reasons)
        return self._writer.submit_async(partial(_claim_alone, work), claim_all, work)

    @staticmethod
    def _claim_work(
        rules: StockRules, plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...]
    ) -> ClaimWork:
        text = codec.encode_request(plan.request)
        return _new(ClaimWork, (rules, plan, flagged, reasons, text))

    def redeem(
        self, request: RedemptionRequest, now_s: float, flagged: bool, reasons: tuple[str, ...]
    ) -> RedemptionResult:
        check_order(request)
        text = codec.encode_request(request)
        return self._writer.submit(
            lambda c: sqlite_ops.redeem(
                c, request, now_s, flagged, reasons, text, partial(self._spec_in, c)
            )
        )

    def refund(self, request: RefundRequest, now_s: float) -> RefundResult:
        text = codec.encode_request(request)
        return self._writer.submit(
            lambda c: sqlite_ops.refund(c, request, now_s, text, partial(self._spec_in, c))
        )

    def expire(self, request: ExpiryRequest, now_s: float) -> ExpiryResult:
        text = codec.encode_request(request)
        return self._writer.submit(lambda c: sqlite_ops.expire(c, request, now_s, text))

    def adjust_budget(self, request: BudgetAdjustment, now_s: float) -> BudgetResult:
        text = codec.encode_request(request)
        return self._writer.submit(lambda c: sqlite_ops.adjust_budget(c, request, now_s, text))

    # -- reads ------------------------------------------------------------------------------

    def status(self, stock_id: str) -> StockStatus:
        return sqlite_reads.status_of(self._reader(), stock_id)

    def coupon(self, coupon_id: str) -> Coupon:
        return sqlite_reads.coupon_of(self._reader(), coupon_id)

    def redemption(self, redemption_id: str) -> Redemption:
        return sqlite_reads.redemption_of(self._reader(), redemption_id)

    def coupons(self, stock_id: str) -> Iterator[Coupon]:
        self.spec(stock_id)  # UnknownStock early
        return iter(sqlite_reads.coupons(self._reader(), stock_id))

    def ledger(self, stock_id: str) -> Iterator[LedgerEntry]:
        self.spec(stock_id)
        return iter(sqlite_reads.ledger(self._reader(), stock_id))

    def issued_claims(self, stock_id: str) -> Iterator[tuple[ClaimRequest, Coupon]]:
        return iter(sqlite_reads.issued_claims(self._reader(), stock_id))

    def limit_usage(self, stock_id: str) -> dict[LimitKey, int]:
        return sqlite_reads.limit_usage(self._reader(), stock_id)

    def daily_usage(self, stock_id: str) -> dict[int, tuple[int, int]]:
        return sqlite_reads.daily_usage(self._reader(), stock_id)

    def claim_persons(self, stock_id: str) -> dict[str, str]:
        return sqlite_reads.claim_persons(self._reader(), stock_id)

    def records(self, stock_id: str) -> StockRecords:
        """One snapshot: every part read in one read transaction of this thread's connection."""
        return sqlite_reads.records(self._reader(), stock_id)

    def stock_ids(self) -> list[str]:
        rows = self._reader().execute("SELECT stock_id FROM stocks ORDER BY rowid")
        return [row[0] for row in rows]

    @property
    def batches(self) -> tuple[int, int]:
        """(committed transactions, operations in them) — the group-commit ratio."""
        return self._writer.batches, self._writer.operations

    @property
    def bulk_fallbacks(self) -> int:
        """Bulk claim runs that raised and were redone claim by claim (0 unless a bug or a
        broken invariant: tests assert it)."""
        return self._writer.bulk_fallbacks

    async def aclose(self) -> None:
        """Nothing to release per event loop (the writer settles futures on their own loop)."""

    def close(self) -> None:
        """Finish queued writes, stop the writer and close every connection."""
        self._writer.close()
        with self._readers_lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()


def _claim_alone(work: ClaimWork, connection: sqlite3.Connection) -> ClaimResult:
    """One claim in its own savepoint: the writer's fallback when a bulk run raises."""
    return sqlite_ops.claim(connection, *work)
