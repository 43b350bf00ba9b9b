"""The SQLite ledger: one file shared by the processes of one host, or memory for one process."""

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rpc.quota_ledger import sql
from rpc.quota_ledger.base import DEFAULT_TTL_SECONDS, KEEP_DAYS, QuotaLedger, utc_day


class SqliteLedger(QuotaLedger):
    """A ledger in a SQLite file (created with its folder), or in memory when ``path`` is None.

    Every transaction begins IMMEDIATE: it takes the file's write lock at once, so a count
    and the insert after it are never interleaved with another process's, and busy_timeout
    makes the others wait for it instead of failing. WAL keeps readers from blocking. Times
    are this host's clock (``clock``): every process on the file runs on the same host.
    """

    placeholder = "?"
    driver_error = (sqlite3.Error, OSError)

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        ttl_s: float = DEFAULT_TTL_SECONDS,
        busy_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(str(self.path) if self.path else "in memory", ttl_s=ttl_s)
        self._busy_timeout_s = busy_timeout_s
        self._clock = clock

    def _connect(self) -> Any:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path if self.path is not None else ":memory:",
            timeout=self._busy_timeout_s,
            isolation_level=None,  # autocommit: the ledger sends BEGIN and COMMIT itself
            check_same_thread=False,  # any thread, one at a time under the ledger's lock
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            if self.path is not None:
                self._switch_to_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")  # durable against process crashes
            conn.execute("BEGIN IMMEDIATE")
            for statement in sql.SCHEMA:
                conn.execute(statement)
            conn.execute(sql.PRUNE_USAGE, (utc_day(self._clock()) - KEEP_DAYS,))
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return conn

    def _switch_to_wal(self, conn: sqlite3.Connection) -> None:
        """WAL mode; retried while another connection opening the file at the same moment
        holds the lock it needs (SQLite answers "database is locked" at once, without
        waiting for busy_timeout)."""
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _begin(self, cursor: Any, lock_key: str | None) -> float:
        cursor.execute("BEGIN IMMEDIATE")  # the file's one write lock covers every key
        return self._clock()
