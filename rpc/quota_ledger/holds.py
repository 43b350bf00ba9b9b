"""What the ledger hands out: a Hold, a Reservation (a hold on a daily amount), or a Refusal."""

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rpc.admission import exceeded
from rpc.errors import QuotaExceeded

if TYPE_CHECKING:
    from rpc.quota_ledger.base import QuotaLedger


@dataclass(frozen=True)
class Refusal:
    """The ledger's answer when ``asking`` more would take the tenant over ``limit``.

    ``used`` is what counts against the limit now: live holds, plus the day's charged amount
    for a daily quota.
    """

    quota: str
    tenant: str
    used: float
    limit: float
    asking: float

    def error(self, retry_after_seconds: float | None = None) -> QuotaExceeded:
        """The one refusal of this quota (rpc.admission.WORDING), sent as RESOURCE_EXHAUSTED."""
        return exceeded(
            self.tenant,
            self.quota,
            used=self.used,
            limit=self.limit,
            asking=self.asking,
            retry_after_seconds=retry_after_seconds,
        )


@dataclass(eq=False)
class Hold:
    """A tenant's share of a concurrency quota, live until released or until it lapses.

    The ledger renews it in the background while this process runs, so it lapses only
    ``ttl_s`` after its process died (or lost the database for that long).
    """

    ledger: "QuotaLedger" = field(repr=False)
    id: str
    quota: str
    tenant: str
    amount: float
    ttl_s: float
    day: int | None = None  # the UTC day of a Reservation
    lost: bool = field(default=False, init=False)  # lapsed unrenewed: others may have its place
    _open: bool = field(default=True, init=False, repr=False)
    _open_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def open(self) -> bool:
        """True until released or settled."""
        return self._open

    def renew(self) -> bool:
        """Push its expiry ``ttl_s`` ahead now; False when it had already lapsed."""
        return self.id not in self.ledger._renew([self])

    def release(self) -> None:
        """Give the place back. Never raises for an outage: the ledger retries it later."""
        if self._close():
            self.ledger._end(self, None)

    def _close(self) -> bool:
        """Mark it ended; True the first time only (ending twice changes nothing)."""
        with self._open_lock:
            was_open, self._open = self._open, False
        return was_open


@dataclass(eq=False)
class Reservation(Hold):
    """An amount held against a tenant's daily quota until settle() charges the real one."""

    def settle(self, actual: float) -> None:
        """Delete the hold and charge ``actual`` to the day it was reserved on; a no-op when
        settled or released before. Never raises for an outage: the ledger keeps the hold
        (renewed) and retries the charge, so the quota stays counted meanwhile."""
        if self._close():
            self.ledger._end(self, max(actual, 0))
