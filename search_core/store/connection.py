"""A transaction per call, on a connection each backend lends for it (SQLite: its one
connection behind a lock; PostgreSQL: one from a bounded pool)."""

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, ClassVar, Self

from search_core.store.base import StoreError, StoreUnavailable
from search_core.store.dialect import Dialect, Tx


class Connector(ABC):
    """Runs each call as one transaction on a connection from `_lend()`.

    A subclass sets `dialect`, implements `_lend()` and `close()`, and says with `_lost()`
    when an error cut a connection off from the database. Driver errors leave as
    StoreUnavailable (the database could not be reached) or StoreError (anything else),
    with the driver's error as the cause.
    """

    dialect: ClassVar[Dialect]
    max_connections: int = 1  # transactions that can run at once (AsyncStore sizes by it)

    @abstractmethod
    def _lend(self) -> AbstractContextManager[Any]:
        """A driver connection for one transaction, the caller's until the block exits.

        Raises StoreUnavailable when none can be had, StoreError once the store is closed.
        """

    @abstractmethod
    def close(self) -> None:
        """Close every connection; later calls raise StoreError. Closing twice is harmless."""

    def _lost(self, conn: Any) -> bool:
        """Whether the error just raised on `conn` means the database went away (the
        connection is broken), rather than a failed statement."""
        return False

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Tx]:
        with self._lend() as conn:
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute(self.dialect.begin_write if write else "BEGIN")
                    try:
                        yield Tx(cursor, self.dialect)
                    except BaseException:
                        with suppress(self.dialect.error):
                            cursor.execute("ROLLBACK")
                        raise
                    cursor.execute("COMMIT")
                finally:
                    with suppress(self.dialect.error):
                        cursor.close()
            except self.dialect.integrity_error as exc:
                raise StoreError(f"conflicts with stored data: {exc}") from exc
            except self.dialect.error as exc:
                if self._lost(conn):
                    raise StoreUnavailable(
                        f"lost the connection to the {self.dialect.name} database: {exc}"
                    ) from exc
                raise StoreError(f"{self.dialect.name} store failed: {exc}") from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class LockedConnection:
    """One connection, opened on first use, lent to one transaction at a time.

    `connect` opens it; a driver error (`error`) while opening means the database cannot
    be reached (StoreUnavailable), and the next transaction tries again.
    """

    def __init__(self, connect: Callable[[], Any], error: type[Exception], name: str) -> None:
        self._connect = connect
        self._error = error
        self._name = name
        self._lock = threading.Lock()
        self._conn: Any = None
        self._closed = False

    @contextmanager
    def lend(self) -> Iterator[Any]:
        with self._lock:
            if self._closed:
                raise StoreError(f"the {self._name} store is closed")
            if self._conn is None:
                try:
                    self._conn = self._connect()
                except self._error as exc:
                    raise StoreUnavailable(f"cannot open the {self._name} database: {exc}") from exc
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                with suppress(Exception):
                    conn.close()
