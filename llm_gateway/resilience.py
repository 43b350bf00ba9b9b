"""Resilience toward upstream servers: retries with backoff and jitter, a circuit breaker per
backend, and a bound on concurrent upstream requests (with a bounded queue before it).
"""

import asyncio
import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from rpc.errors import QuotaExceeded


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: try n waits uniform(0, min(cap, base * 2**n))."""

    attempts: int = 3
    initial_backoff_seconds: float = 0.1
    max_backoff_seconds: float = 2.0

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """The wait before retry number ``retry`` (1-based)."""
        cap = min(self.max_backoff_seconds, self.initial_backoff_seconds * 2 ** (retry - 1))
        return (rng or random).uniform(0.0, cap)


class BreakerState(enum.IntEnum):
    """Circuit states; the value is what the state gauge shows."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitOpen(Exception):
    """The breaker refuses calls until its cool-down ends."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(f"circuit open for another {retry_after_seconds:.1f}s")
        self.retry_after_seconds = retry_after_seconds


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``reset_seconds`` one probe may go.

    A successful probe closes the circuit, a failed one opens it for another cool-down.
    """

    def __init__(
        self,
        threshold: int,
        reset_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self._threshold = threshold
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._on_change = on_change
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.state = BreakerState.CLOSED

    def _set(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(state)

    def before_call(self) -> None:
        """Raise CircuitOpen unless a call may go now."""
        if self.state is BreakerState.CLOSED:
            return
        remaining = self._opened_at + self._reset_seconds - self._clock()
        if self.state is BreakerState.OPEN and remaining > 0:
            raise CircuitOpen(remaining)
        if self._probing:  # one probe at a time while half-open
            raise CircuitOpen(max(remaining, 0.0))
        self._probing = True
        self._set(BreakerState.HALF_OPEN)

    def record_success(self) -> None:
        self._failures = 0
        self._probing = False
        self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._failures += 1
        self._probing = False
        if self.state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def record_neutral(self) -> None:
        """A call that says nothing about the upstream's health (e.g. the caller gave up)."""
        self._probing = False
        if self.state is BreakerState.HALF_OPEN:
            self._opened_at = self._clock() - self._reset_seconds  # let the next call probe
            self._set(BreakerState.OPEN)


class UpstreamLimiter:
    """At most ``limit`` calls at once; at most ``max_queued`` waiting, the rest refused."""

    def __init__(self, limit: int, max_queued: int) -> None:
        self._semaphore = asyncio.Semaphore(limit)
        self._max_queued = max_queued
        self._waiting = 0
        self.in_flight = 0

    async def acquire(self) -> None:
        """Wait for a slot (callers bound the wait); QuotaExceeded when the queue is full."""
        if self._semaphore.locked():
            if self._waiting >= self._max_queued:
                raise QuotaExceeded("too many requests are waiting for this model")
            self._waiting += 1
            try:
                await self._semaphore.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._semaphore.acquire()
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
        self._semaphore.release()
