"""Pause-and-retry of one search's dependency calls: bounded per stage, paused while down."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from search_core.engine.observer import SearchObserver
from search_core.engine.scheduling import StageGates
from search_core.services import DependencyDown

log = logging.getLogger(__name__)
T = TypeVar("T")

_FIRST_RETRY_SECONDS = 1.0


class StageRetry:
    """Runs a stage's dependency call within the stage's bound; while the dependency is
    down, reports the search paused and retries with doubling backoff, then reports it
    answering again. A StageCaller of search_core.engine.evaluation."""

    def __init__(
        self,
        gates: StageGates,
        *,
        search_id: str,
        tenant_id: str,
        backoff_max_seconds: float,
        observer: SearchObserver,
        on_pause: Callable[[DependencyDown], Awaitable[None]],
        on_answer: Callable[[], Awaitable[None]],
    ) -> None:
        self._gates = gates
        self._search_id = search_id
        self._tenant_id = tenant_id
        self._backoff_max_seconds = backoff_max_seconds
        self._observer = observer
        self._on_pause = on_pause  # the search waits for the failed service
        self._on_answer = on_answer  # a call answered: a paused search runs again

    async def __call__(self, stage: str, call: Callable[[], Awaitable[T]]) -> T:
        delay = _FIRST_RETRY_SECONDS
        while True:
            started = time.monotonic()
            async with self._gates.hold(stage, self._tenant_id):
                log.info(
                    "search %s: %s started after %.1f s waiting",
                    self._search_id,
                    stage,
                    time.monotonic() - started,
                )
                try:
                    result = await call()
                except DependencyDown as down:
                    failure = down
                else:
                    seconds = time.monotonic() - started
                    log.info("search %s: %s done in %.1f s", self._search_id, stage, seconds)
                    self._observer.stage_call(stage, seconds)
                    await self._on_answer()
                    return result
            self._observer.paused(failure.service)
            await self._on_pause(failure)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max_seconds)
