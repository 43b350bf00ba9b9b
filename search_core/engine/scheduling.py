"""Bounds per stage shared by every search, fair between tenants, and the rule that LLM
generation and training never share the CPU.

A freed slot of a stage goes to the waiting tenant that holds the fewest (FairSlots), so a
tenant with many candidates waiting cannot make another tenant's one candidate wait
behind all of them.

llama.cpp's threads spin: beside a training job it drops from ~35 to 1-2 tokens/s, and the
job slows too. With `exclusive` on, "generate" and "train" are two groups that never hold
the CPU at once. The group that has the CPU keeps it for a time slice while it has work
(so trainings queued behind one another run as a batch instead of one per generation);
once its slice is used up, or it has had nothing to run for a moment, a waiting group
takes over. Neither starves.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from search_core.engine.fair_slots import FairSlots

EXCLUSIVE_GROUPS = ("generate", "train")
HANDOVER_GRACE_SECONDS = 0.5  # an idle group keeps the CPU this long for its next member


class StageGates:
    def __init__(
        self,
        limits: dict[str, int],
        *,
        exclusive: bool,
        slice_seconds: float = 60.0,
        per_tenant: dict[str, Callable[[str], int]] | None = None,
    ) -> None:
        """``per_tenant[stage](tenant)``: the most of that stage's slots one tenant may hold."""
        caps = per_tenant or {}
        self._slots = {stage: FairSlots(limit, caps.get(stage)) for stage, limit in limits.items()}
        self._exclusive = exclusive
        self._slice = slice_seconds
        self._active_group: str | None = None
        self._active_since = 0.0
        self._idle_since = 0.0
        self._holders = 0
        self._waiting = dict.fromkeys(EXCLUSIVE_GROUPS, 0)
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, stage: str, tenant: str) -> AsyncIterator[None]:
        """Wait for the stage's bound, in the tenant's turn (and the CPU group, for
        generate/train)."""
        async with self._slots[stage].hold(tenant):
            if self._exclusive and stage in EXCLUSIVE_GROUPS:
                await self._enter(stage)
                try:
                    yield
                finally:
                    await self._leave()
            else:
                yield

    def _other(self, group: str) -> str:
        return EXCLUSIVE_GROUPS[1 - EXCLUSIVE_GROUPS.index(group)]

    def _wait_limit(self, group: str, now: float) -> float | None:
        """0 when `group` may take the CPU now; else seconds until it should look again
        (None: only a change of the others can let it in)."""
        active = self._active_group
        slice_left = self._active_since + self._slice - now
        if active is None:
            return 0
        if active == group:
            other_waits = self._waiting[self._other(group)] > 0
            return 0 if not other_waits or slice_left > 0 else None
        if self._holders:
            return None
        idle_left = self._idle_since + HANDOVER_GRACE_SECONDS - now
        if slice_left <= 0 or idle_left <= 0:
            return 0
        return min(slice_left, idle_left)

    async def _enter(self, group: str) -> None:
        async with self._changed:
            self._waiting[group] += 1
            try:
                while (limit := self._wait_limit(group, time.monotonic())) != 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), limit)
            finally:
                self._waiting[group] -= 1
            if self._active_group != group:
                self._active_group = group
                self._active_since = time.monotonic()
            self._holders += 1

    async def _leave(self) -> None:
        async with self._changed:
            self._holders -= 1
            if self._holders == 0:
                self._idle_since = time.monotonic()
            self._changed.notify_all()
