"""The PostgreSQL store: the same queries as SQLite through psycopg 3, for shared deployments."""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolClosed

from search_core.store.base import StoreError, StoreUnavailable
from search_core.store.dialect import Dialect
from search_core.store.sql import SqlStore

# Any constant works; it only has to be the same for every nasforge process on a database.
_MIGRATION_LOCK_KEY = 0x6E6173666F726765  # "nasforge"
# The class of the per-tenant locks (a 32-bit key; the two-key space is apart from the
# migration lock's one-key space). Two tenants whose hashtext collides only share a queue.
_TENANT_LOCK_CLASS = 0x6E617366  # "nasf"

POSTGRES = Dialect(
    name="postgresql",
    placeholder="%s",
    begin_write="BEGIN",  # row locks, taken by each statement, are enough on PostgreSQL
    # Two processes migrating at once queue here instead of racing on CREATE TABLE.
    migration_lock=f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})",
    # A quota check counts rows that a concurrent insert has not committed yet, and row
    # locks cannot lock rows that do not exist: so creates of one tenant queue on an advisory
    # lock, held until the transaction ends, that needs no row (not even the tenant's).
    tenant_lock=f"SELECT pg_advisory_xact_lock({_TENANT_LOCK_CLASS}, hashtext(?))",
    clock="CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
    error=psycopg.Error,
    integrity_error=psycopg.IntegrityError,
)


class PostgresStore(SqlStore):
    """A store in a PostgreSQL database given by a libpq URL (postgresql://user@host/db).

    Its connections come from a bounded pool (psycopg_pool): one opened at start, at most
    `pool_size`, so that many transactions run at the same time and a call beyond them
    waits up to `timeout_s` for a connection to come back. Each connection is checked as
    it is lent and replaced when the server dropped it, so a restarted server costs no
    call once it answers again. While it does not answer, calls raise StoreUnavailable
    (after `timeout_s`) and the pool keeps trying to reconnect in the background.
    """

    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        timeout_s: float = 10.0,
        connect_timeout_s: int | None = None,
    ) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s}")
        self.max_connections = pool_size
        self._timeout_s = timeout_s
        # libpq's connect_timeout is whole seconds, and it treats 1 as 2.
        connect_timeout = connect_timeout_s or max(2, math.ceil(timeout_s))
        self._pool = ConnectionPool(
            url,
            # autocommit: the base class sends BEGIN/COMMIT itself, as it does for SQLite.
            kwargs={"autocommit": True, "connect_timeout": connect_timeout},
            min_size=1,
            max_size=pool_size,
            timeout=timeout_s,
            check=self._check,
            # The pool retries a lost server with growing pauses (1 s, 2 s, 4 s, ...) for
            # this long, then the next waiting call starts again from 1 s: so a server that
            # is back is found within about half of this, however long it was away.
            reconnect_timeout=max(timeout_s, 5.0),
            name="nasforge-store",
            open=False,
        )
        self._pool.open(wait=False)  # connects in the background; a call waits for it

    def _check(self, conn: Any) -> None:
        """Lend only a live connection. One found dead means the server dropped the others
        too (it restarted): they are all weeded out now, rather than one per backoff sleep
        of the pool (1 s, 2 s, 4 s, ...), which could outlast `timeout_s`."""
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error:
            self._pool.check()
            raise

    @contextmanager
    def _lend(self) -> Iterator[Any]:
        try:
            conn = self._pool.getconn()
        except PoolClosed as exc:
            raise StoreError("the postgresql store is closed") from exc
        except psycopg.Error as exc:  # PoolTimeout: no connection could be had in time
            raise StoreUnavailable(
                f"no connection to the postgresql database within {self._timeout_s:g} s ({exc})"
            ) from exc
        try:
            yield conn
        finally:
            self._pool.putconn(conn)  # a broken one is discarded and replaced

    def _lost(self, conn: Any) -> bool:
        return conn.closed or conn.broken

    def close(self) -> None:
        self._pool.close()
