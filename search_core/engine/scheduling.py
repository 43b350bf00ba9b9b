"""Bounds per stage shared by every search, and the rule that LLM generation and training
never share the CPU.

llama.cpp's threads spin: beside a training job it drops from ~35 to 1-2 tokens/s, and the
job slows too. With `exclusive` on, "generate" and "train" are two groups that never hold
the CPU at once; whichever waits longer goes next, so neither starves.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

EXCLUSIVE_GROUPS = ("generate", "train")


class StageGates:
    def __init__(self, limits: dict[str, int], *, exclusive: bool) -> None:
        self._semaphores = {stage: asyncio.Semaphore(limit) for stage, limit in limits.items()}
        self._exclusive = exclusive
        self._active_group: str | None = None
        self._holders = 0
        self._waiting = dict.fromkeys(EXCLUSIVE_GROUPS, 0)
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, stage: str) -> AsyncIterator[None]:
        """Wait for the stage's bound (and the CPU group, for generate/train)."""
        async with self._semaphores[stage]:
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

    async def _enter(self, group: str) -> None:
        async with self._changed:
            self._waiting[group] += 1
            try:
                # Join the active group only while the other group has nobody waiting.
                await self._changed.wait_for(
                    lambda: (
                        self._active_group is None
                        or (self._active_group == group and not self._waiting[self._other(group)])
                    )
                )
            finally:
                self._waiting[group] -= 1
            self._active_group = group
            self._holders += 1

    async def _leave(self) -> None:
        async with self._changed:
            self._holders -= 1
            if self._holders == 0:
                self._active_group = None
            self._changed.notify_all()
