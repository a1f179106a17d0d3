"""SQLite-only properties: durability of acknowledged claims across ``kill -9``, group commit,
the database-level guards, and files of an earlier schema version refused at open."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_workers import OPEN_S, T0_S, voucher_stock
from test_concurrency import all_at_once

from engine import ClaimRequest, Engine, Limit, Period, Subject
from engine.coupon import Coupon
from engine.errors import IncompatibleStore, InvalidDefinition, StoreUnavailable
from engine.ledger import LedgerEntry, Movement, StockStatus
from engine.outcomes import ClaimResult, Outcome
from engine.requests import StockCreation
from engine.spec_io import stock_to_dict
from engine.store import codec, open_store
from engine.store.sqlite import SCHEMA_VERSION, SqliteStore
from engine.store.sqlite_writer import GroupCommitWriter

ROOT = Path(__file__).resolve().parents[2]


def test_acknowledged_claims_survive_kill_9(tmp_path: Path) -> None:
    path = str(tmp_path / "crash.db")
    store = SqliteStore(path)
    Engine(store, seed=7).create_stock(voucher_stock(quota=1_000_000, limits=()), "c", T0_S)
    store.close()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{Path(__file__).parent}"}
    acknowledged = []
    with subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "store_workers.py"), path, "s1"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as claimer:
        assert claimer.stdout is not None
        for line in claimer.stdout:  # mid-storm: 8 threads are claiming right now
            acknowledged.append(line.strip())
            if len(acknowledged) == 600:
                os.kill(claimer.pid, signal.SIGKILL)
                break
        acknowledged += [line.strip() for line in claimer.stdout]  # printed before death
        assert claimer.wait(timeout=30) == -signal.SIGKILL
    reopened = SqliteStore(path)
    try:
        stored = {coupon.coupon_id for coupon in reopened.coupons("s1")}
        assert set(acknowledged) <= stored
        status = reopened.status("s1")
        assert len(stored) == status.issued <= 1_000_000
        check = Engine(reopened, seed=0).reconcile("s1")
        assert check.ok, check.mismatches
    finally:
        reopened.close()


@pytest.mark.parametrize("max_batch", [1, 256])
def test_group_commit_batches_concurrent_claims(tmp_path: Path, max_batch: int) -> None:
    store = SqliteStore(tmp_path / "batch.db", max_batch=max_batch)
    engine = Engine(store, seed=1)
    engine.create_stock(voucher_stock(quota=1000, limits=()), "c", T0_S)

    def claim_25(thread: int) -> None:
        for index in range(25):
            engine.claim(ClaimRequest(f"{thread}-{index}", "s1", f"u{thread}-{index}"), OPEN_S)

    before_batches, before_operations = store.batches
    all_at_once(8, claim_25)
    batches, operations = store.batches
    store.close()
    assert operations - before_operations == 200
    if max_batch == 1:
        assert batches - before_batches == 200
    else:
        assert batches - before_batches < 200  # several claims shared one commit


def test_database_guards_refuse_ledger_edits_and_over_issue(tmp_path: Path) -> None:
    path = tmp_path / "guards.db"
    store = SqliteStore(path)
    Engine(store, seed=1).create_stock(voucher_stock(quota=1), "c", T0_S)
    Engine(store, seed=1).claim(ClaimRequest("c1", "s1", "u1"), OPEN_S)
    store.close()
    raw = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("UPDATE ledger SET amount_fen = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("DELETE FROM ledger")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        raw.execute("UPDATE stocks SET issued = issued + 1")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        raw.execute("UPDATE stocks SET available_fen = available_fen - 1")
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.close()


def test_open_store_refuses_unusable_paths(tmp_path: Path) -> None:
    with pytest.raises(InvalidDefinition, match="existing directory"):
        open_store(f"sqlite:{tmp_path}/missing/dir/x.db")
    with pytest.raises(InvalidDefinition, match="file path"):
        open_store("sqlite:")


def test_every_connection_is_wal_with_full_sync(tmp_path: Path) -> None:
    """An acknowledged claim is on disk: the writer commits with ``synchronous=FULL`` in WAL."""
    store = SqliteStore(tmp_path / "sync.db")
    try:
        pragmas = store._writer.submit(
            lambda c: (
                c.execute("PRAGMA synchronous").fetchone()[0],
                c.execute("PRAGMA journal_mode").fetchone()[0],
            )
        )
        assert pragmas == (2, "wal")  # 2 = FULL
        assert store._reader().execute("PRAGMA synchronous").fetchone() == (2,)
    finally:
        store.close()


class _Crash(BaseException):
    """Not an Exception: escapes the operation's savepoint, like an interpreter-level failure."""


def test_a_dead_writer_answers_store_unavailable_instead_of_hanging(tmp_path: Path) -> None:
    writer = GroupCommitWriter(lambda: sqlite3.connect(tmp_path / "w.db", isolation_level=None))

    def crash(connection: sqlite3.Connection) -> None:
        raise _Crash

    with pytest.raises(StoreUnavailable, match="transaction failed"):
        writer.submit(crash)
    with pytest.raises(StoreUnavailable, match="writer stopped"):
        writer.submit(lambda c: c.execute("SELECT 1").fetchone())  # within ~1 s, not forever
    writer.close()


# -- files of an earlier schema version ---------------------------------------------------------

# The schema as Couponlab wrote it with user_version 1 (up to commit a9737b5): no claim_persons,
# request outcomes keyed by request id alone.
SCHEMA_V1 = """
CREATE TABLE stocks (
    stock_id TEXT PRIMARY KEY, spec TEXT NOT NULL, quota INTEGER NOT NULL,
    budget_fen INTEGER NOT NULL, available_fen INTEGER NOT NULL CHECK (available_fen >= 0),
    reserved_fen INTEGER NOT NULL CHECK (reserved_fen >= 0),
    spent_fen INTEGER NOT NULL CHECK (spent_fen >= 0),
    issued INTEGER NOT NULL CHECK (issued <= quota),
    redeemed INTEGER NOT NULL CHECK (redeemed >= 0),
    expired INTEGER NOT NULL CHECK (expired >= 0),
    CHECK (available_fen + reserved_fen + spent_fen = budget_fen)
);
CREATE TABLE daily (
    stock_id TEXT NOT NULL, day_key INTEGER NOT NULL,
    issued INTEGER NOT NULL, reserved_fen INTEGER NOT NULL, PRIMARY KEY (stock_id, day_key)
) WITHOUT ROWID;
CREATE TABLE limits (
    stock_id TEXT NOT NULL, limit_index INTEGER NOT NULL, subject TEXT NOT NULL,
    period_key INTEGER NOT NULL, used INTEGER NOT NULL,
    PRIMARY KEY (stock_id, limit_index, subject, period_key)
) WITHOUT ROWID;
CREATE TABLE coupons (
    coupon_id TEXT PRIMARY KEY, stock_id TEXT NOT NULL, seq INTEGER NOT NULL,
    request_id TEXT NOT NULL, customer_id TEXT NOT NULL, value_fen INTEGER NOT NULL,
    claimed_s REAL NOT NULL, valid_until_s REAL NOT NULL,
    state TEXT NOT NULL, redemption_id TEXT NOT NULL, UNIQUE (stock_id, seq)
);
CREATE INDEX coupons_to_expire ON coupons (valid_until_s) WHERE state = 'issued';
CREATE TABLE redemptions (
    redemption_id TEXT PRIMARY KEY, stock_id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE ledger (
    entry_id INTEGER PRIMARY KEY, stock_id TEXT NOT NULL, movement TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0), request_id TEXT NOT NULL,
    coupon_id TEXT NOT NULL, at_s REAL NOT NULL
);
CREATE INDEX ledger_by_stock ON ledger (stock_id, entry_id);
CREATE TABLE outcomes (request_id TEXT PRIMARY KEY, request TEXT NOT NULL, result TEXT NOT NULL);
"""


def _v1_file(path: Path) -> None:
    """A store file as version 1 left it: a stock limited to one claim per natural person,
    created and claimed once (rows as version 1 wrote them; no person kept for the claim)."""
    spec = voucher_stock(limits=(Limit(Subject.PERSON, Period.CAMPAIGN, 1),))
    coupon = Coupon("s1.1", "s1", "alice", 5000, OPEN_S, OPEN_S + 7 * 86_400)
    claim = ClaimRequest("k1", "s1", "alice")
    status = StockStatus("s1", 500_000, 500_000, 0, 0, 0, 0, 0)
    with sqlite3.connect(path) as raw:
        raw.executescript(SCHEMA_V1 + "PRAGMA user_version = 1;")
        raw.execute(
            "INSERT INTO stocks VALUES ('s1', ?, 100, 500000, 495000, 5000, 0, 1, 0, 0)",
            (codec.dumps(stock_to_dict(spec)),),
        )
        raw.execute(
            "INSERT INTO coupons VALUES ('s1.1', 's1', 1, 'k1', 'alice', 5000, ?, ?, 'issued', '')",
            (coupon.claimed_s, coupon.valid_until_s),
        )
        raw.execute("INSERT INTO limits VALUES ('s1', 0, 'alice', 0, 1)")
        entries = [
            LedgerEntry("s1", Movement.FUND, 500_000, "c", "", T0_S),
            LedgerEntry("s1", Movement.CLAIM, 5000, "k1", "s1.1", OPEN_S),
        ]
        raw.executemany(
            "INSERT INTO ledger (stock_id, movement, amount_fen, request_id, coupon_id, at_s)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(e.stock_id, str(e.movement), e.amount_fen, e.request_id, e.coupon_id, e.at_s)
             for e in entries],
        )  # fmt: skip
        outcomes = [
            (StockCreation("c", spec), status),
            (claim, ClaimResult(Outcome.OK, coupon)),
        ]
        raw.executemany(
            "INSERT INTO outcomes VALUES (?, ?, ?)",
            [(r.request_id, codec.encode_request(r), codec.encode_result(x)) for r, x in outcomes],
        )
    raw.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_version_1_file_is_refused_unchanged_with_what_to_do(tmp_path: Path) -> None:
    """Version 1 kept no person per claim: opened as it was, its person-limited coupons would
    all fail reconciliation although the store is right. The open refuses it, naming the file,
    its version and what to do, and leaves it exactly as it was (no new table, no WAL)."""
    path = tmp_path / "v1.db"
    _v1_file(path)
    before = _digest(path)
    with pytest.raises(IncompatibleStore) as refused:
        open_store(f"sqlite:{path}")
    message = str(refused.value)
    assert str(path) in message and "schema version 1" in message
    assert f"needs {SCHEMA_VERSION}" in message and "natural person" in message
    assert "start a new store" in message and "does not migrate" in message
    assert isinstance(refused.value, StoreUnavailable)
    assert _digest(path) == before
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone() == (1,)
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    raw.close()


@pytest.mark.parametrize(("version", "words"), [(2, "store-wide"), (SCHEMA_VERSION + 1, "newer")])
def test_files_of_other_versions_are_refused(tmp_path: Path, version: int, words: str) -> None:
    path = tmp_path / f"v{version}.db"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {version}")
    raw.close()
    with pytest.raises(IncompatibleStore, match=words):
        SqliteStore(path)


def test_a_file_of_another_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE notes (body TEXT)")
    raw.close()
    before = _digest(path)
    with pytest.raises(IncompatibleStore, match="not a Couponlab store file"):
        SqliteStore(path)
    assert _digest(path) == before


def test_a_new_file_gets_the_current_version_and_opens_again(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = SqliteStore(path)
    Engine(store, seed=1).create_stock(voucher_stock(), "c", T0_S)
    store.close()
    again = SqliteStore(path)
    try:
        assert again.status("s1").budget_fen == 500_000
        assert again._reader().execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        again.close()
