"""The ledger's interface and its one quota rule, written once for both databases.

A backend (sqlite.py, postgres.py) only opens a connection, creates the tables, and starts a
transaction that no other process can interleave with for one (quota, tenant): its
`_begin` takes that lock and says what time it is on the ledger's clock. Everything else,
the check-and-reserve rule included, is here, in SQL that both databases speak.
"""

import logging
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

from rpc.quota_ledger import sql
from rpc.quota_ledger.errors import QuotaLedgerUnavailable
from rpc.quota_ledger.holds import Hold, Refusal, Reservation
from rpc.quota_ledger.renewal import Renewer

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 60.0  # a dead replica's holds lapse after this; renewed every third
SECONDS_PER_DAY = 86_400
KEEP_DAYS = 31  # charged rows of older days are deleted when a ledger creates its tables


def utc_day(unix_seconds: float) -> int:
    """The number of the UTC day (days since 1970-01-01) that ``unix_seconds`` falls in."""
    return int(unix_seconds // SECONDS_PER_DAY)


class _Tx:
    """One open transaction: runs the "?"-style queries of sql.py through the driver."""

    def __init__(self, cursor: Any, placeholder: str, now: float) -> None:
        self._cursor = cursor
        self._placeholder = placeholder
        self.now = now

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        if self._placeholder != "?":
            query = query.replace("?", self._placeholder)
        return self._cursor.execute(query, tuple(params))

    def value(self, query: str, params: Sequence[Any] = ()) -> float:
        row = self.execute(query, params).fetchone()
        return row[0] if row is not None and row[0] is not None else 0


def _whole(number: float) -> float:
    """Whole amounts as int (tokens, checks), so that refusals print 700, not 700.0."""
    return int(number) if float(number).is_integer() else number


class QuotaLedger(ABC):
    """Concurrency holds and daily amounts per (quota, tenant), checked and reserved at once.

    Thread-safe and synchronous (one connection behind a lock); call it from asyncio code
    through asyncio.to_thread. Every call that cannot reach the database raises
    QuotaLedgerUnavailable, except release() and settle(), which are retried later.
    """

    placeholder: ClassVar[str] = "?"
    driver_error: ClassVar[type[Exception] | tuple[type[Exception], ...]] = Exception

    def __init__(self, where: str, *, ttl_s: float = DEFAULT_TTL_SECONDS) -> None:
        if ttl_s <= 0:
            raise ValueError("a hold's ttl must be positive")
        self.where = where  # for messages: the file or the URL without its password
        self.ttl_s = ttl_s
        self._lock = threading.Lock()  # the connection, one transaction at a time
        self._conn: Any = None
        self._closed = False
        self._renewer = Renewer(self)

    # What a backend provides.

    @abstractmethod
    def _connect(self) -> Any:
        """A new driver connection in autocommit mode, with the tables created."""

    @abstractmethod
    def _begin(self, cursor: Any, lock_key: str | None) -> float:
        """Start a transaction; when ``lock_key`` is given, hold off every other transaction
        on that key until this one ends. Returns the ledger's time now, in Unix seconds."""

    def _usable(self, conn: Any) -> bool:
        """False when the server dropped the connection (a new one is opened)."""
        return True

    # The transaction.

    def _connection(self) -> Any:
        if self._conn is not None and not self._usable(self._conn):
            with suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _unavailable(self, exc: Exception) -> QuotaLedgerUnavailable:
        return QuotaLedgerUnavailable(
            f"the quota ledger ({self.where}) cannot be reached, so no quota can be granted: "
            f"{' '.join(str(exc).split()) or type(exc).__name__}"
        )

    def _open_cursor(self, lock_key: str | None) -> tuple[Any, float]:
        """A cursor in a begun transaction, and the time. A connection that the server
        dropped since the last call (a restart) is replaced and tried once more: nothing
        was written yet, so the retry cannot apply anything twice."""
        for attempt in (1, 2):
            had_connection = self._conn is not None
            cursor = None
            try:
                cursor = self._connection().cursor()
                return cursor, self._begin(cursor, lock_key)
            except self.driver_error as exc:
                if cursor is not None:
                    self._roll_back(cursor)
                dropped = had_connection and self._conn is None
                if attempt == 2 or not dropped:
                    raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")

    @contextmanager
    def _transaction(self, lock_key: str | None = None) -> Iterator[_Tx]:
        with self._lock:
            if self._closed:
                raise QuotaLedgerUnavailable(f"the quota ledger ({self.where}) is closed")
            cursor, now = self._open_cursor(lock_key)
            try:
                yield _Tx(cursor, self.placeholder, now)
                cursor.execute("COMMIT")
            except self.driver_error as exc:
                self._roll_back(cursor)
                raise self._unavailable(exc) from exc
            except BaseException:
                self._roll_back(cursor)
                raise
            finally:
                with suppress(Exception):
                    cursor.close()

    def _roll_back(self, cursor: Any) -> None:
        """End a failed transaction; forget the connection when the server dropped it."""
        with suppress(self.driver_error):
            cursor.execute("ROLLBACK")
        if self._conn is not None and not self._usable(self._conn):
            with suppress(Exception):
                self._conn.close()
            self._conn = None

    # The quota rule.

    def hold(
        self,
        quota: str,
        tenant: str,
        limit: float | None,
        amount: float = 1,
        ttl_s: float | None = None,
    ) -> Hold | Refusal:
        """A hold of ``amount`` on ``quota`` when the tenant's live holds plus it stay within
        ``limit`` (None: no limit, the hold is only counted), else the Refusal."""
        return self._take(quota, tenant, None, amount, limit, ttl_s)

    def reserve(
        self,
        quota: str,
        tenant: str,
        day: int,
        amount: float,
        limit: float | None,
        ttl_s: float | None = None,
    ) -> Reservation | Refusal:
        """Hold ``amount`` of the tenant's daily ``quota`` on UTC ``day`` when the day's
        charged amount, its live holds and ``amount`` stay within ``limit``, else the
        Refusal. The holder settle()s it with the amount really used."""
        return self._take(quota, tenant, day, amount, limit, ttl_s)

    def _take(
        self,
        quota: str,
        tenant: str,
        day: int | None,
        amount: float,
        limit: float | None,
        ttl_s: float | None,
    ) -> Hold | Refusal:
        if amount < 0:
            raise ValueError(f"cannot hold a negative amount ({amount})")
        ttl = self.ttl_s if ttl_s is None else ttl_s
        if ttl <= 0:
            raise ValueError("a hold's ttl must be positive")
        hold_id = uuid.uuid4().hex
        with self._transaction(_lock_key(quota, tenant)) as tx:
            tx.execute(sql.DELETE_EXPIRED, (quota, tenant, tx.now))
            if day is None:
                used = tx.value(sql.HELD, (quota, tenant, tx.now))
            else:
                used = tx.value(sql.HELD_ON_DAY, (quota, tenant, day, tx.now))
                used += tx.value(sql.CHARGED, (quota, tenant, day))
            if limit is not None and used + amount > limit:
                return Refusal(quota, tenant, _whole(used), _whole(limit), _whole(amount))
            tx.execute(sql.INSERT_HOLD, (hold_id, quota, tenant, day, amount, tx.now + ttl, ttl))
        granted = (
            Hold(self, hold_id, quota, tenant, amount, ttl)
            if day is None
            else Reservation(self, hold_id, quota, tenant, amount, ttl, day)
        )
        self._renewer.keep(granted)
        return granted

    def used(self, quota: str, tenant: str, day: int) -> float:
        """The amount charged to the tenant's daily ``quota`` on UTC ``day`` (holds apart)."""
        with self._transaction() as tx:
            return _whole(tx.value(sql.CHARGED, (quota, tenant, day)))

    def held(self, quota: str, tenant: str, day: int | None = None) -> float:
        """The amount of the tenant's live holds of ``quota`` (on ``day`` for a daily one)."""
        with self._transaction() as tx:
            if day is None:
                return _whole(tx.value(sql.HELD, (quota, tenant, tx.now)))
            return _whole(tx.value(sql.HELD_ON_DAY, (quota, tenant, day, tx.now)))

    def _end(self, hold: Hold, actual: float | None) -> None:
        """Release (``actual`` None) or settle a closed hold; retried later in an outage."""
        try:
            self._apply_end(hold, actual)
        except QuotaLedgerUnavailable as exc:
            log.warning(
                "%s of %s's %s is retried later: %s", _verb(actual), hold.tenant, hold.quota, exc
            )
            self._renewer.retry_later(hold, actual)
        else:
            self._renewer.forget(hold)

    def _apply_end(self, hold: Hold, actual: float | None) -> None:
        with self._transaction(_lock_key(hold.quota, hold.tenant)) as tx:
            tx.execute(sql.DELETE_HOLD, (hold.id,))
            if actual:
                tx.execute(sql.CHARGE, (hold.quota, hold.tenant, hold.day, actual))

    def _renew(self, holds: Sequence[Hold]) -> set[str]:
        """Push the expiry of ``holds`` ahead; the ids of those that had lapsed already."""
        if not holds:
            return set()
        lapsed = set()
        with self._transaction() as tx:
            for hold in holds:
                if not tx.execute(sql.RENEW, (tx.now, hold.id, tx.now)).fetchone():
                    lapsed.add(hold.id)
        for hold in holds:
            # A hold its holder ended meanwhile is gone on purpose, not lapsed.
            if hold.id in lapsed and hold.open and not hold.lost:
                hold.lost = True
                log.warning(
                    "a %s hold of tenant %s lapsed before it was renewed (the quota ledger "
                    "was out of reach for longer than %gs); it is no longer counted",
                    hold.quota,
                    hold.tenant,
                    hold.ttl_s,
                )
        return lapsed

    def renew_all(self) -> None:
        """Renew every hold this ledger keeps, and retry the releases and charges that an
        outage held back (the renewer thread calls it every third of the shortest ttl)."""
        self._renewer.run_once()

    def close(self) -> None:
        """Stop renewing; retry what is pending once and give back every hold still open
        (a process that stops cleanly does not keep its places until they lapse)."""
        self._renewer.stop()
        self._renewer.flush()
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.close()

    def _release_all(self, hold_ids: Sequence[str]) -> None:
        with self._transaction() as tx:
            for hold_id in hold_ids:
                tx.execute(sql.DELETE_HOLD, (hold_id,))

    def __enter__(self) -> "QuotaLedger":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _lock_key(quota: str, tenant: str) -> str:
    return f"{quota}:{tenant}"


def _verb(actual: float | None) -> str:
    return "the release of a hold" if actual is None else f"the charge of {actual:g}"
