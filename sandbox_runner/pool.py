"""A pool of warm single-use containers: torch imported, waiting on stdin for one job.

A container serves exactly one check and is destroyed after it; the pool refills in the
background. When the pool is empty a check starts a cold container instead of waiting.
"""

import asyncio
import collections
import logging
import time
from collections.abc import Callable

from sandbox_runner.containers import AttachedContainer

log = logging.getLogger(__name__)

_RETRY_SECONDS = 5.0


class WarmPool:
    """Keeps ``size`` ready containers made by ``start_warm`` (a blocking call)."""

    def __init__(
        self, start_warm: Callable[[], AttachedContainer], size: int, max_idle_seconds: float
    ) -> None:
        self._start_warm = start_warm
        self.size = size
        self._max_idle = max_idle_seconds
        self._ready: collections.deque[AttachedContainer] = collections.deque()
        self._filling: asyncio.Task | None = None
        self._closed = False
        self.infra_errors = 0

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    def start(self) -> None:
        self._schedule_refill()

    async def wait_full(self, timeout_seconds: float) -> bool:
        """Wait until every slot holds a ready container (benchmarks and tests)."""
        deadline = time.monotonic() + timeout_seconds
        while len(self._ready) < self.size and time.monotonic() < deadline:
            self._schedule_refill()
            await asyncio.sleep(0.05)
        return len(self._ready) >= self.size

    async def take(self) -> tuple[AttachedContainer, str]:
        """A container for one check, and whether it was 'warm' or started 'cold'."""
        while self._ready:
            container = self._ready.popleft()
            if time.monotonic() - container.started_at < self._max_idle:
                self._schedule_refill()
                return container, "warm"
            asyncio.get_running_loop().run_in_executor(None, container.destroy)
        self._schedule_refill()
        return await asyncio.to_thread(self._start_warm), "cold"

    def _schedule_refill(self) -> None:
        if self._closed or self.size == 0:
            return
        if self._filling is None or self._filling.done():
            self._filling = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        while not self._closed and len(self._ready) < self.size:
            try:
                container = await asyncio.to_thread(self._start_warm)
            except Exception as exc:  # the pool must outlive any failure to start one
                self.infra_errors += 1
                log.warning("warm pool could not start a container: %s", exc)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            if self._closed:
                await asyncio.to_thread(container.destroy)
                return
            self._ready.append(container)

    async def close(self) -> None:
        """Destroy every ready container; a container being started is destroyed when ready."""
        self._closed = True
        if self._filling is not None and not self._filling.done():
            # Not cancelled: a container starting in a worker thread would be orphaned.
            await asyncio.wait([self._filling], timeout=120)
        while self._ready:
            await asyncio.to_thread(self._ready.popleft().destroy)
