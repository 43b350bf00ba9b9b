"""A replica's side of the search leases (the queries are in store/leases.py).

Every `interval` (a third of the lease) the keeper renews the leases this replica holds,
notices the searches it no longer holds (taken over while it was cut off: it stops them
without touching their state), hands the controls the API recorded (cancel, pause) to the
engine, and claims as many unowned or expired searches as the engine has free places.

A replica that cannot renew must not go on: another replica may take its searches over
once their leases expire. So when the last renewal is older than `FENCE` of the lease, the
keeper tells the engine the store is down and the engine stops every search it runs
(stopped, not ended: their state stays in the store); when a renewal succeeds again the
searches still held resume and the others are claimed by whoever has room.
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

from search_core.store import ClaimedSearch, Control, StoreUnavailable

log = logging.getLogger(__name__)

FENCE = 0.75  # of the lease: stop before it can expire, with a margin for slow clocks


def new_replica_id() -> str:
    """A name no other replica has: host, process and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class LeaseStore(Protocol):
    async def renew_leases(self, owner: str, lease_seconds: float) -> dict[str, Control]: ...

    async def claim_searches(
        self, owner: str, lease_seconds: float, limit: int, tenants_last: Sequence[str] = ()
    ) -> list[ClaimedSearch]: ...


class LeaseHolder(Protocol):
    """What the keeper asks of the engine."""

    def launched(self) -> dict[str, float]:
        """Searches this replica runs now -> when (monotonic) each was launched."""

    def free_places(self) -> int: ...

    def tenants_last(self) -> list[str]:
        """Tenants whose claims wait for the others' (those served most lately last)."""

    def launch(self, claim: ClaimedSearch) -> None: ...

    def lost(self, search_id: str) -> None:
        """Stop a search another replica now holds (without writing its state)."""

    def held_idle(self, search_id: str) -> None:
        """A search this replica holds but does not run (stopped while the store was away)."""

    def control(self, search_id: str, control: Control) -> None: ...

    def store_down(self, error: Exception) -> None:
        """Stop every search: the leases may expire before the store answers again."""

    def store_back(self, seconds_away: float) -> None: ...


class LeaseKeeper:
    def __init__(
        self,
        store: LeaseStore,
        holder: LeaseHolder,
        *,
        owner: str,
        lease_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._holder = holder
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.interval = lease_seconds / 3
        self._clock = clock
        self._renewed_at = clock()
        self._down_since: float | None = None
        self._wake = asyncio.Event()

    @property
    def store_reachable(self) -> bool:
        return self._down_since is None

    def wake(self) -> None:
        """Run a round now (a search ended: a place is free)."""
        self._wake.set()

    async def run(self) -> None:
        """Rounds until cancelled."""
        while True:
            await self.round()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass

    async def round(self) -> list[str]:
        """Renew, notice losses and controls, claim; the ids claimed."""
        started = self._clock()
        try:
            held = await self._store.renew_leases(self.owner, self.lease_seconds)
            self._renewed_at = started
            self._settle(held, started)
            if self._down_since is not None:
                away, self._down_since = started - self._down_since, None
                self._holder.store_back(away)
            claims = await self._store.claim_searches(
                self.owner,
                self.lease_seconds,
                self._holder.free_places(),
                self._holder.tenants_last(),
            )
        except StoreUnavailable as error:
            self._unreachable(error)
            return []
        for claim in claims:
            if claim.previous_owner and claim.previous_owner != self.owner:
                log.warning(
                    "taking over search %s from %s (its lease expired)",
                    claim.search.search_id,
                    claim.previous_owner,
                )
            self._holder.launch(claim)
        return [claim.search.search_id for claim in claims]

    def _settle(self, held: dict[str, Control], renewal_started: float) -> None:
        launched = self._holder.launched()
        for search_id, at in launched.items():
            # A search launched after the renewal began may not be in its answer yet.
            if search_id not in held and at < renewal_started:
                log.warning("search %s is no longer this replica's: stopping it", search_id)
                self._holder.lost(search_id)
        for search_id, control in held.items():
            if control is not Control.NONE:
                self._holder.control(search_id, control)
            elif search_id not in launched:
                self._holder.held_idle(search_id)

    def _unreachable(self, error: Exception) -> None:
        now = self._clock()
        if self._down_since is None:
            log.warning("the store is unreachable: %s", error)
            self._down_since = now
        if now - self._renewed_at >= FENCE * self.lease_seconds:
            self._holder.store_down(error)
