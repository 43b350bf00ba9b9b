"""FairSlots: a bound on running searches that hands free slots out fairly across tenants.

A plain semaphore wakes its waiters first come, first served, so a tenant that queues many
searches would take every slot that frees before a later tenant's first search. Here a
freed slot goes to the waiting tenant that holds the fewest slots; ties go to the tenant
served longest ago (round robin). Within a tenant, searches run in the order queued.
"""

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator


class FairSlots:
    """At most ``capacity`` holders at once; waiters are admitted fairly by tenant."""

    def __init__(self, capacity: int) -> None:
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

    async def _acquire(self, tenant: str) -> None:
        if self._free > 0 and not self._waiting:
            self._grant(tenant)
            return
        granted = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tenant, deque()).append(granted)
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
            tenant = min(self._waiting, key=lambda t: (self.held(t), self._served_at.get(t, 0)))
            queue = self._waiting[tenant]
            granted = queue.popleft()
            if not queue:
                del self._waiting[tenant]
            if granted.done():  # cancelled while waiting, not yet forgotten
                continue
            self._grant(tenant)
            granted.set_result(None)
