"""What differs between SQLite and PostgreSQL, kept in one place, and the transaction handle."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dialect:
    """The few spellings the shared queries need per backend.

    Everything else is written once in the common subset both speak: upserts as
    `ON CONFLICT (...) DO UPDATE SET c = excluded.c` (SQLite >= 3.24), the event sequence
    as `UPDATE ... RETURNING` (SQLite >= 3.35), `NULLS LAST` (SQLite >= 3.30).
    """

    name: str
    placeholder: str  # the driver's parameter marker; queries are written with "?"
    begin_write: str  # starts a transaction that will write
    migration_lock: str  # run first in the migration transaction; "" when begin_write suffices
    # Run before counting a tenant's searches in create_search (its one parameter is the
    # tenant): holds the tenant's other creates off until commit; "" when begin_write does.
    tenant_lock: str
    # The database server's clock in Unix seconds: leases are compared on one clock, so
    # replicas whose own clocks drift apart still agree on who holds a search.
    clock: str
    error: type[Exception]  # the driver's base error, turned into StoreError
    integrity_error: type[Exception]  # a violated constraint

    def sql(self, query: str) -> str:
        # The shared queries hold no "?" or "%" other than parameter markers.
        return query if self.placeholder == "?" else query.replace("?", self.placeholder)


def placeholders(count: int) -> str:
    """ "?, ?, ?" for an IN list of `count` values."""
    return ", ".join("?" * count)


class Tx:
    """One open transaction: executes the shared "?"-style queries through the dialect."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self.dialect = dialect

    def _run(self, query: str, params: Iterable[Any]) -> Any:
        values = tuple(params)
        if values:
            return self._cursor.execute(self.dialect.sql(query), values)
        # Without parameters psycopg sends the text as is (no "%" parsing).
        return self._cursor.execute(query)

    def execute(self, query: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        self._run(query, params)
        return self._cursor.rowcount

    def one(self, query: str, params: Iterable[Any] = ()) -> Sequence[Any] | None:
        self._run(query, params)
        return self._cursor.fetchone()

    def all(self, query: str, params: Iterable[Any] = ()) -> list[Sequence[Any]]:
        self._run(query, params)
        return list(self._cursor.fetchall())
