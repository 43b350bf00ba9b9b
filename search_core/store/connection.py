"""One database connection behind a lock, and a transaction per call, for either backend."""

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, ClassVar, Self

from search_core.store.base import StoreError
from search_core.store.dialect import Dialect, Tx


class Connector(ABC):
    """Opens the connection on first use and runs each transaction under the lock.

    A subclass sets `dialect` and implements `_connect()`; `_usable()` lets it replace a
    connection the server dropped. Driver errors leave as StoreError (cause attached).
    """

    dialect: ClassVar[Dialect]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self._closed = False

    @abstractmethod
    def _connect(self) -> Any:
        """A new driver connection (each backend opens its own)."""

    def _usable(self, conn: Any) -> bool:
        return True

    def _connection(self) -> Any:
        if self._conn is not None and not self._usable(self._conn):
            with suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Tx]:
        with self._lock:
            if self._closed:
                raise StoreError(f"the {self.dialect.name} store is closed")
            try:
                cursor = self._connection().cursor()
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
                raise StoreError(f"{self.dialect.name} store failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                with suppress(Exception):
                    conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
