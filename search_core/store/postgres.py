"""The PostgreSQL store: the same queries as SQLite through psycopg 3, for shared deployments."""

from typing import Any

import psycopg

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

    One connection behind the base class's lock (psycopg_pool is not a dependency, and a
    store's transactions are short). The connection opens on first use and is replaced
    when the server dropped it, so a restarted server costs the one call that saw it go.
    """

    dialect = POSTGRES

    def __init__(self, url: str, *, connect_timeout_s: int = 10) -> None:
        super().__init__()
        self._url = url
        self._connect_timeout_s = connect_timeout_s

    def _connect(self) -> Any:
        # autocommit: the base class sends BEGIN/COMMIT itself, as it does for SQLite.
        return psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout_s)

    def _usable(self, conn: Any) -> bool:
        return not conn.closed and not conn.broken
