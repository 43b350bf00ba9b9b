"""The SQLite store: one file in WAL mode, the default for a single search_core process."""

import os
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from search_core.store.base import StoreError
from search_core.store.connection import LockedConnection
from search_core.store.dialect import Dialect
from search_core.store.sql import SqlStore

SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    # IMMEDIATE takes the write lock at BEGIN, where busy_timeout waits for it; a deferred
    # transaction that upgrades later can fail at once with "database is locked" in WAL.
    begin_write="BEGIN IMMEDIATE",
    migration_lock="",
    tenant_lock="",  # BEGIN IMMEDIATE already makes every writer wait for the one before
    clock="((julianday('now') - 2440587.5) * 86400.0)",  # one host: the host's clock, in ms
    error=sqlite3.Error,
    integrity_error=sqlite3.IntegrityError,
)

# UPDATE ... RETURNING, which the event sequence relies on, arrived in SQLite 3.35.
MIN_SQLITE_VERSION = (3, 35, 0)


class SqliteStore(SqlStore):
    """A store in one SQLite file (created with its folder if missing).

    One connection behind a lock (connection.LockedConnection), so one transaction at a
    time (max_connections 1), rather than one per thread: every method is a short
    transaction, so serialising them in-process costs little and means threads of this
    process never contend for SQLite's file lock, need no per-thread connection
    bookkeeping, and close() closes everything. WAL mode plus busy_timeout are for other
    processes (or other stores) on the same file: their readers never block us, and a
    writer waits for the lock instead of failing.
    """

    dialect = SQLITE

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        text = os.fspath(path)
        if not text or text == ":memory:" or text.startswith("file:"):
            raise ValueError(
                f"SqliteStore needs a file path, not {text!r}: the store must outlive the process"
            )
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old; the store needs 3.35 or later"
            )
        self.path = Path(text)
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._connection = LockedConnection(self._connect, sqlite3.Error, self.dialect.name)

    def _lend(self) -> AbstractContextManager[Any]:
        return self._connection.lend()

    def close(self) -> None:
        self._connection.close()

    def _connect(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,  # autocommit: the base class sends BEGIN/COMMIT itself
            check_same_thread=False,  # any thread may use it, one at a time under the lock
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch to WAL mode (got {mode!r})")
            conn.execute("PRAGMA foreign_keys = ON")
            # NORMAL is durable against crashes of the process in WAL mode; only a power
            # loss can drop the last commits, never corrupt the file.
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn
