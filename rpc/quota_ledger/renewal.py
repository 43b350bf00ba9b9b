"""The heartbeat of a process's holds: a daemon thread that renews them every third of their
ttl, and retries the releases and charges that an outage of the database held back.

It runs in the process that holds, so a process that dies (SIGKILL, a lost host) stops
renewing, and its holds lapse a ttl later for every other replica.
"""

import logging
import threading
import time
from typing import TYPE_CHECKING

from rpc.quota_ledger.errors import QuotaLedgerUnavailable

if TYPE_CHECKING:
    from rpc.quota_ledger.base import Hold, QuotaLedger

log = logging.getLogger(__name__)

IDLE_WAKE_SECONDS = 60.0  # how often an idle renewer looks again (a new hold wakes it)


class Renewer:
    """The holds a ledger keeps open, and those whose end waits for the database."""

    def __init__(self, ledger: "QuotaLedger") -> None:
        self._ledger = ledger
        self._lock = threading.Lock()
        self._kept: dict[str, Hold] = {}
        self._ending: dict[str, tuple[Hold, float | None]] = {}  # release (None) or charge
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def keep(self, hold: "Hold") -> None:
        """Renew ``hold`` until it ends (starts the thread with the first hold)."""
        with self._lock:
            shortest = min((kept.ttl_s for kept in self._kept.values()), default=None)
            self._kept[hold.id] = hold
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=self._run, name="quota-ledger-renewer", daemon=True
                )
                self._thread.start()
        if shortest is None or hold.ttl_s < shortest:
            self._wake.set()  # the next renewal may have to come sooner

    def forget(self, hold: "Hold") -> None:
        with self._lock:
            self._kept.pop(hold.id, None)
            self._ending.pop(hold.id, None)

    def retry_later(self, hold: "Hold", actual: float | None) -> None:
        """Keep ``hold`` renewed, and end it (release or charge) once the database is back."""
        with self._lock:
            self._ending[hold.id] = (hold, actual)

    def _interval(self) -> float:
        with self._lock:
            ttls = [hold.ttl_s for hold in self._kept.values()]
        return min(ttls) / 3 if ttls else IDLE_WAKE_SECONDS

    def _run(self) -> None:
        due = time.monotonic() + self._interval()
        while True:
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            if self._stopped:
                return
            now = time.monotonic()
            # A wake-up may bring the renewal forward (a shorter ttl), never push it back:
            # holds taken all the time must not keep the others from being renewed.
            due = min(due, now + self._interval())
            if now < due:
                continue
            try:
                self.run_once()
            except Exception:  # a bug here must not stop the heartbeat of every hold
                log.exception("renewing the quota holds failed")
            due = time.monotonic() + self._interval()

    def _take_ending(self) -> list[tuple["Hold", float | None]]:
        """The held-back ends, taken so that no other caller applies them too."""
        with self._lock:
            ending = list(self._ending.values())
            self._ending.clear()
        return ending

    def _apply_ends(self, ending: list[tuple["Hold", float | None]]) -> None:
        """Apply held-back ends in order; those not applied yet are put back on failure."""
        for done, (hold, actual) in enumerate(ending):
            try:
                self._ledger._apply_end(hold, actual)
            except QuotaLedgerUnavailable:
                with self._lock:
                    for left, left_actual in ending[done:]:
                        self._ending.setdefault(left.id, (left, left_actual))
                raise
            self.forget(hold)

    def run_once(self) -> None:
        """Retry the held-back ends, then renew every hold still kept."""
        try:
            self._apply_ends(self._take_ending())
            with self._lock:
                kept = list(self._kept.values())
            for lapsed_id in self._ledger._renew(kept):
                with self._lock:
                    self._kept.pop(lapsed_id, None)  # the ending of a lapsed hold still runs
        except QuotaLedgerUnavailable as exc:
            log.warning("quota holds not renewed: %s", exc)

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def flush(self) -> None:
        """At close: retry the held-back ends once, and release the holds still open."""
        try:
            self._apply_ends(self._take_ending())
            with self._lock:
                open_ids = list(self._kept)
                self._kept.clear()
            if open_ids:
                self._ledger._release_all(open_ids)
        except QuotaLedgerUnavailable as exc:
            log.warning("quota holds left to lapse at close: %s", exc)
