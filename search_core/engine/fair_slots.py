"""FairSlots: a bound on holders (running searches, a stage's calls) handed out fairly
across tenants.

A plain semaphore wakes its waiters first come, first served, so a tenant that queues many
searches would take every slot that frees before a later tenant's first search. Here a
freed slot goes to the waiting tenant that holds the fewest slots; ties go to the tenant
served longest ago (round robin). Within a tenant, holders are admitted in the order
queued. An optional per-tenant cap keeps one tenant from holding every slot, so another
tenant's first call finds one free instead of waiting for the flood's to finish.
"""

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable


class FairSlots:
    """At most ``capacity`` holders at once; waiters are admitted fairly by tenant."""

    def __init__(self, capacity: int, per_tenant: Callable[[str], int] | None = None) -> None:
        """``per_tenant(tenant)``: the most slots that tenant may hold at once (None: all)."""
        self._per_tenant = per_tenant
        self._free = capacity
        self._held: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future]] = {}  # tenants with waiters
        self._served_at: dict[str, int] = {}  # tenant -> when it last got a slot
        self._grants = itertools.count(1)

    def held(self, tenant: str) -> int:
        return self._held.get(tenant, 0)

    @contextlib.asynccontextmanager
    async def hold(self, tenant: str) -> AsyncIterator[None]:
        await self._acquire(tenant)
        try:
            yield
        finally:
            self._release(tenant)

    def _may_hold_another(self, tenant: str) -> bool:
        return self._per_tenant is None or self.held(tenant) < max(1, self._per_tenant(tenant))

    async def _acquire(self, tenant: str) -> None:
        granted = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tenant, deque()).append(granted)
        self._wake()  # a free slot goes to the fairest eligible waiter: this one, if alone
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(tenant)  # granted as we were cancelled: pass the slot on
            else:
                self._forget(tenant, granted)
            raise

    def _grant(self, tenant: str) -> None:
        self._free -= 1
        self._held[tenant] = self._held.get(tenant, 0) + 1
        self._served_at[tenant] = next(self._grants)

    def _release(self, tenant: str) -> None:
        self._free += 1
        self._held[tenant] -= 1
        if not self._held[tenant]:
            del self._held[tenant]
        self._wake()

    def _forget(self, tenant: str, granted: asyncio.Future) -> None:
        queue = self._waiting.get(tenant)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del self._waiting[tenant]

    def _wake(self) -> None:
        while self._free > 0 and self._waiting:
            eligible = [t for t in self._waiting if self._may_hold_another(t)]
            if not eligible:
                return  # every waiting tenant holds its share: the free slots stay free
            tenant = min(eligible, key=lambda t: (self.held(t), self._served_at.get(t, 0)))
            queue = self._waiting[tenant]
            granted = queue.popleft()
            if not queue:
                del self._waiting[tenant]
            if granted.done():  # cancelled while waiting, not yet forgotten
                continue
            self._grant(tenant)
            granted.set_result(None)
