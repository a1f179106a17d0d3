"""The SQLite store's schema, its version, and the check of a file's version at open.

``PRAGMA user_version`` holds the schema version. A new file (version 0, no table) gets the
schema; a file of the current version is used as it is; any other file is refused with
:class:`~engine.errors.IncompatibleStore`, unchanged. Couponlab does not migrate store files:
version 1 kept no natural person per claim, so its person-limited claims cannot be recounted
(reconciliation would report every one of them), and version 2 kept request ids store-wide.

Database-level guards back the invariants: ``CHECK`` constraints (no negative account, accounts
sum to the budget, issued ≤ quota) and triggers that make the ledger append-only.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.errors import IncompatibleStore

SCHEMA_VERSION = 3  # 2: claim_persons; 3: outcomes keyed by (stock id, request id)
HISTORY = {
    1: "it kept no natural person per claim, so reconciliation cannot recount person limits",
    2: "it kept request ids store-wide; they are scoped per stock now",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS stocks (
    stock_id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    quota INTEGER NOT NULL,
    budget_fen INTEGER NOT NULL,
    available_fen INTEGER NOT NULL CHECK (available_fen >= 0),
    reserved_fen INTEGER NOT NULL CHECK (reserved_fen >= 0),
    spent_fen INTEGER NOT NULL CHECK (spent_fen >= 0),
    issued INTEGER NOT NULL CHECK (issued <= quota),
    redeemed INTEGER NOT NULL CHECK (redeemed >= 0),
    expired INTEGER NOT NULL CHECK (expired >= 0),
    CHECK (available_fen + reserved_fen + spent_fen = budget_fen)
);
CREATE TABLE IF NOT EXISTS daily (
    stock_id TEXT NOT NULL, day_key INTEGER NOT NULL,
    issued INTEGER NOT NULL, reserved_fen INTEGER NOT NULL,
    PRIMARY KEY (stock_id, day_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS limits (
    stock_id TEXT NOT NULL, limit_index INTEGER NOT NULL, subject TEXT NOT NULL,
    period_key INTEGER NOT NULL, used INTEGER NOT NULL,
    PRIMARY KEY (stock_id, limit_index, subject, period_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claim_persons (
    coupon_id TEXT PRIMARY KEY, stock_id TEXT NOT NULL, person_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS coupons (
    coupon_id TEXT PRIMARY KEY, stock_id TEXT NOT NULL, seq INTEGER NOT NULL,
    request_id TEXT NOT NULL, customer_id TEXT NOT NULL, value_fen INTEGER NOT NULL,
    claimed_s REAL NOT NULL, valid_until_s REAL NOT NULL,
    state TEXT NOT NULL, redemption_id TEXT NOT NULL,
    UNIQUE (stock_id, seq)
);
CREATE INDEX IF NOT EXISTS coupons_to_expire ON coupons (valid_until_s) WHERE state = 'issued';
CREATE TABLE IF NOT EXISTS redemptions (
    redemption_id TEXT PRIMARY KEY, stock_id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    entry_id INTEGER PRIMARY KEY, stock_id TEXT NOT NULL, movement TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0), request_id TEXT NOT NULL,
    coupon_id TEXT NOT NULL, at_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_stock ON ledger (stock_id, entry_id);
CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TABLE IF NOT EXISTS outcomes (
    stock_id TEXT NOT NULL, request_id TEXT NOT NULL,
    request TEXT NOT NULL, result TEXT NOT NULL,
    PRIMARY KEY (stock_id, request_id)
);
"""
# outcomes.stock_id is the request's scope (engine.store.base.scope_of): '' for expiry requests.


def set_up(connection: sqlite3.Connection, path: Path) -> None:
    """Give a new file the schema, or check an existing file's version. Raises
    :class:`IncompatibleStore` for a file of another version, which is left as it is.

    Two processes opening one new file may both create the schema: every statement of it is
    ``IF NOT EXISTS``, in one ``BEGIN IMMEDIATE`` transaction each."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version != 0:
        raise IncompatibleStore(incompatible_message(path, version))
    _refuse_foreign(connection, path)
    try:
        connection.executescript(
            f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        )
    except sqlite3.Error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def incompatible_message(path: Path, version: int) -> str:
    """What is wrong with the file at ``path`` of schema ``version``, and what to do."""
    if version > SCHEMA_VERSION:
        why = "it was written by a newer Couponlab"
        todo = "open it with that version"
    else:
        why = HISTORY.get(version, "an unknown version")
        todo = (
            "finish its campaigns with the Couponlab version that wrote it, or move the file"
            " away (or pass another sqlite:PATH) and start a new store"
        )
    return (
        f"SQLite store file {path} has schema version {version}, this Couponlab needs"
        f" {SCHEMA_VERSION}: {why}. Couponlab does not migrate store files and has left it"
        f" unchanged; {todo}."
    )


def _refuse_foreign(connection: sqlite3.Connection, path: Path) -> None:
    """A file without a version but with tables was not made by Couponlab: leave it alone."""
    tables = connection.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
    ).fetchone()[0]
    if tables:
        raise IncompatibleStore(
            f"SQLite file {path} has {tables} tables but no Couponlab schema version: not a"
            " Couponlab store file (left unchanged); pass another sqlite:PATH"
        )
