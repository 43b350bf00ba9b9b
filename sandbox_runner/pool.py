"""Warm single-use containers, per tenant: torch imported, waiting on stdin for one job.

Every container is created for one tenant (its label says which, and labels are fixed at
creation) and is handed only to that tenant; it serves exactly one check and is destroyed
after it. A tenant's first check starts a cold container; from then on the pool keeps up
to ``per_tenant`` ready for it, refilled in the background after each of its checks. All
tenants together hold at most ``size``: tenants checking at once share it evenly, and a
tenant that needs a container when it is full takes the slot of the least recently used
tenant. A tenant idle for ``max_idle_seconds`` is dropped with its containers.
"""

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox_runner.containers import AttachedContainer

log = logging.getLogger(__name__)

_RETRY_SECONDS = 5.0


@dataclass
class _TenantPool:
    last_used: float
    ready: collections.deque[AttachedContainer] = field(default_factory=collections.deque)


class WarmPool:
    """Ready containers made by ``start_warm(tenant)`` (a blocking call), kept per tenant."""

    def __init__(
        self,
        start_warm: Callable[[str], AttachedContainer],
        size: int,
        max_idle_seconds: float,
        per_tenant: int | None = None,
    ) -> None:
        self._start_warm = start_warm
        self.size = size
        self.per_tenant = size if per_tenant is None else min(per_tenant, size)
        self._max_idle = max_idle_seconds
        self._tenants: collections.OrderedDict[str, _TenantPool] = collections.OrderedDict()
        self._filling: asyncio.Task | None = None
        self._closed = False
        self._discarding: set[asyncio.Future] = set()
        self.infra_errors = 0
        self.evicted = 0

    @property
    def ready_count(self) -> int:
        return sum(len(pool.ready) for pool in self._tenants.values())

    def ready_for(self, tenant: str) -> int:
        pool = self._tenants.get(tenant)
        return len(pool.ready) if pool is not None else 0

    def target(self) -> int:
        """Ready containers each active tenant is kept: its share of ``size``, at least 1."""
        active = max(1, len(self._tenants))
        return min(self.per_tenant, max(1, self.size // active)) if self.size else 0

    def start(self) -> None:
        """Nothing to fill before a tenant checks: containers are made for a tenant."""

    def _touch(self, tenant: str) -> _TenantPool:
        pool = self._tenants.get(tenant)
        if pool is None:
            pool = self._tenants[tenant] = _TenantPool(time.monotonic())
        pool.last_used = time.monotonic()
        self._tenants.move_to_end(tenant)  # most recently used last
        return pool

    async def wait_full(self, timeout_seconds: float, tenant: str) -> bool:
        """Wait until ``tenant`` holds its share of ready containers (benchmarks and tests)."""
        deadline = time.monotonic() + timeout_seconds
        self._touch(tenant)
        while self.ready_for(tenant) < self.target() and time.monotonic() < deadline:
            self._touch(tenant)
            self._schedule_refill()
            await asyncio.sleep(0.05)
        return self.ready_for(tenant) >= self.target()

    async def take(self, tenant: str) -> tuple[AttachedContainer, str]:
        """A container for one check of ``tenant``, and whether it was 'warm' or 'cold'."""
        pool = self._touch(tenant)
        self._sweep()
        while pool.ready:
            container = pool.ready.popleft()
            if time.monotonic() - container.started_at < self._max_idle:
                self._schedule_refill()
                return container, "warm"
            self._discard(container)
        self._schedule_refill()
        return await asyncio.to_thread(self._start_warm, tenant), "cold"

    def _discard(self, container: AttachedContainer) -> None:
        removal = asyncio.get_running_loop().run_in_executor(None, container.destroy)
        self._discarding.add(removal)
        removal.add_done_callback(self._discarding.discard)

    def _sweep(self) -> None:
        """Drop containers past their idle time, and tenants idle that long with none left."""
        now = time.monotonic()
        for tenant, pool in list(self._tenants.items()):
            while pool.ready and now - pool.ready[0].started_at >= self._max_idle:
                self._discard(pool.ready.popleft())
            if not pool.ready and now - pool.last_used >= self._max_idle:
                del self._tenants[tenant]

    def _next_tenant(self) -> str | None:
        """The tenant to start a container for now (making room if need be), or None."""
        target = self.target()
        recent_first = list(reversed(self._tenants))
        for tenant in recent_first:
            if len(self._tenants[tenant].ready) >= target:
                continue
            if self.ready_count < self.size:
                return tenant
            if self._evict_for(tenant, target):
                return tenant
            return None  # full of containers of tenants that used the pool more recently
        return None

    def _evict_for(self, tenant: str, target: int) -> bool:
        """Destroy one ready container of a tenant over its share, or less recently used."""
        order = list(self._tenants)  # least recently used first
        for victim in order:
            pool = self._tenants[victim]
            if victim == tenant or not pool.ready:
                continue
            if len(pool.ready) > target or order.index(victim) < order.index(tenant):
                self._discard(pool.ready.popleft())
                self.evicted += 1
                return True
        return False

    def _schedule_refill(self) -> None:
        if self._closed or self.size == 0:
            return
        if self._filling is None or self._filling.done():
            self._filling = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        while not self._closed:
            self._sweep()
            tenant = self._next_tenant()
            if tenant is None:
                return
            try:
                container = await asyncio.to_thread(self._start_warm, tenant)
            except Exception as exc:  # the pool must outlive any failure to start one
                self.infra_errors += 1
                log.warning("warm pool could not start a container for %s: %s", tenant, exc)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            pool = self._tenants.get(tenant)
            if self._closed or pool is None:  # closed, or the tenant was dropped meanwhile
                await asyncio.to_thread(container.destroy)
                continue
            pool.ready.append(container)

    async def close(self) -> None:
        """Destroy every ready container; a container being started is destroyed when ready."""
        self._closed = True
        if self._filling is not None and not self._filling.done():
            # Not cancelled: a container starting in a worker thread would be orphaned.
            await asyncio.wait([self._filling], timeout=120)
        for pool in self._tenants.values():
            while pool.ready:
                await asyncio.to_thread(pool.ready.popleft().destroy)
        if self._discarding:
            await asyncio.wait(set(self._discarding), timeout=60)
