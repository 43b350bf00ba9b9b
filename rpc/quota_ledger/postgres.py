"""The PostgreSQL ledger: one database shared by every replica (psycopg 3)."""

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from rpc.quota_ledger import sql
from rpc.quota_ledger.base import DEFAULT_TTL_SECONDS, KEEP_DAYS, SECONDS_PER_DAY, QuotaLedger

# Any constants work; they only have to be the same in every process on the database, and
# apart from search_core's store (0x6E6173666F726765 and the class 0x6E617366).
_MIGRATION_LOCK_KEY = 0x6E6671756F746173  # "nfquotas"
_QUOTA_LOCK_CLASS = 0x6E717561  # "nqua": the class of the per-(quota, tenant) locks

# A count cannot row-lock the holds that a concurrent insert has not committed yet, nor a
# usage row that does not exist yet: so every transaction of one (quota, tenant) queues on an
# advisory lock, held until it ends, that needs no row. Two keys whose hashtext collides
# only share a queue.
_LOCK = f"SELECT pg_advisory_xact_lock({_QUOTA_LOCK_CLASS}, hashtext(%s))"
# The database's clock: replicas whose own clocks drift apart still agree on expiry.
_NOW = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


def redacted(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class PostgresLedger(QuotaLedger):
    """A ledger in the PostgreSQL database of a libpq URL (postgresql://user@host/db).

    The tables are created on each connection, under a migration lock (replicas starting together
    queue instead of racing). The connection is replaced when the server dropped it; a call
    made while the server is away raises QuotaLedgerUnavailable within connect_timeout_s.
    """

    placeholder = "%s"
    driver_error = psycopg.Error

    def __init__(
        self, url: str, *, ttl_s: float = DEFAULT_TTL_SECONDS, connect_timeout_s: int = 5
    ) -> None:
        super().__init__(redacted(url), ttl_s=ttl_s)
        self._url = url
        self._connect_timeout_s = connect_timeout_s

    def _connect(self) -> Any:
        conn = psycopg.connect(
            self._url,
            autocommit=True,  # the ledger sends BEGIN and COMMIT itself
            connect_timeout=self._connect_timeout_s,
            # A server that vanished without closing the connection is noticed in seconds.
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            tcp_user_timeout=15_000,
        )
        try:
            # A stuck transaction elsewhere delays a quota check by seconds, never for ever.
            conn.execute("SET lock_timeout = '10s'")
            conn.execute("SET statement_timeout = '15s'")
            # On every new connection: cheap, and a database restored or recreated while
            # the server was away gets its tables back.
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: Any) -> None:
        with conn.transaction():
            conn.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
            for statement in sql.SCHEMA:
                conn.execute(statement)
            (now,) = conn.execute(_NOW).fetchone()
            today = int(now // SECONDS_PER_DAY)
            conn.execute(sql.PRUNE_USAGE.replace("?", "%s"), (today - KEEP_DAYS,))

    def _begin(self, cursor: Any, lock_key: str | None) -> float:
        cursor.execute("BEGIN")
        if lock_key is not None:
            cursor.execute(_LOCK, (lock_key,))
        return cursor.execute(_NOW).fetchone()[0]

    def _usable(self, conn: Any) -> bool:
        return not conn.closed and not conn.broken
