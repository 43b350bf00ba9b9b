"""One model's upstream: its backend behind a circuit breaker, a concurrency bound and retries.

Every call gets the time left before the caller's deadline (or the model's timeout, whichever
is shorter). Only unavailability is retried (refused connections, overload, not ready), with
backoff and jitter, and only while the deadline leaves room; a stream is retried only before
its first token. Failures map to the gateway's errors here: down -> UNAVAILABLE (fast: an
open breaker answers at once), out of time -> DEADLINE_EXCEEDED, refused -> INVALID_ARGUMENT.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from llm_gateway.backends import (
    Backend,
    UpstreamError,
    UpstreamFailed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from llm_gateway.config import ModelConfig
from llm_gateway.domain import TokenPiece, UpstreamAnswer, UpstreamRequest
from llm_gateway.resilience import CircuitBreaker, CircuitOpen, RetryPolicy, UpstreamLimiter
from rpc.errors import DeadlineExceeded, InvalidArgument, QuotaExceeded, Unavailable

log = logging.getLogger(__name__)

# Results of upstream calls (a closed metric label set).
RESULTS = (
    "ok",
    "unavailable",
    "timeout",
    "rejected",
    "failed",
    "circuit_open",
    "queue_full",
    "cancelled",
)
# A retry is worth it only if this much time is left after its backoff.
MIN_RETRY_SECONDS = 0.05


class UpstreamObserver(Protocol):
    """Where upstream calls are reported (llm_gateway.metrics implements it)."""

    def upstream_finished(self, model: str, result: str, seconds: float) -> None: ...

    def in_flight_changed(self, model: str, count: int) -> None: ...


@dataclass
class Attempts:
    """What a call took: upstream attempts and seconds spent upstream (backoff included)."""

    count: int = 0
    seconds: float = 0.0


class ModelUpstream:
    """The backend of one configured model, with its breaker, limiter and retry policy."""

    def __init__(
        self,
        config: ModelConfig,
        backend: Backend,
        breaker: CircuitBreaker,
        retry: RetryPolicy,
        observer: UpstreamObserver,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.breaker = breaker
        self.limiter = UpstreamLimiter(config.max_concurrent_requests, config.max_queued_requests)
        self._retry = retry
        self._observer = observer
        self._clock = clock
        self._rng = rng or random.Random()

    def _budget(self, deadline: float | None) -> tuple[float, bool]:
        """(seconds the next call may take, whether the caller's deadline is what bounds it)."""
        own = self.config.timeout_seconds
        if deadline is None:
            return own, False
        left = deadline - self._clock()
        if left <= 0:
            raise DeadlineExceeded(f"the deadline passed before model {self.config.name} answered")
        return min(own, left), left < own

    def _report(self, result: str, started: float) -> None:
        self._observer.upstream_finished(self.config.name, result, self._clock() - started)

    async def _admit(self, deadline: float | None) -> tuple[float, bool]:
        """Pass the breaker and take a concurrency slot; returns the call's budget."""
        started = self._clock()
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            self._report("circuit_open", started)
            raise Unavailable(
                f"model {self.config.name} is unavailable: its upstream failed repeatedly "
                f"(circuit open, next try in {exc.retry_after_seconds:.1f}s)"
            ) from exc
        try:
            budget, _ = self._budget(deadline)
            async with asyncio.timeout(budget):
                await self.limiter.acquire()
        except QuotaExceeded:
            self.breaker.record_neutral()
            self._report("queue_full", started)
            raise
        except TimeoutError:
            self.breaker.record_neutral()
            self._report("timeout", started)
            raise DeadlineExceeded(
                f"no upstream slot of model {self.config.name} freed up before the deadline"
            ) from None
        except BaseException:
            self.breaker.record_neutral()
            raise
        self._observer.in_flight_changed(self.config.name, self.limiter.in_flight)
        return self._budget(deadline)

    def _release(self) -> None:
        self.limiter.release()
        self._observer.in_flight_changed(self.config.name, self.limiter.in_flight)

    def _settle(self, error: BaseException | None, by_deadline: bool, started: float) -> str:
        """Record a finished attempt with the breaker and the observer; returns its result."""
        if error is None or isinstance(error, UpstreamRejected):
            self.breaker.record_success()  # a refusal is a healthy server's answer
            result = "ok" if error is None else "rejected"
        elif isinstance(error, UpstreamTimeout) and by_deadline:
            self.breaker.record_neutral()  # the caller's deadline was short, not the server
            result = "timeout"
        elif isinstance(error, UpstreamError):
            self.breaker.record_failure()
            result = {UpstreamTimeout: "timeout", UpstreamFailed: "failed"}.get(
                type(error), "unavailable"
            )
        else:  # cancelled by the caller, or our own bug
            self.breaker.record_neutral()
            result = "cancelled"
        self._report(result, started)
        return result

    async def _backoff(self, retry: int, deadline: float | None) -> bool:
        """Sleep before retry number ``retry`` if the policy and the deadline allow it."""
        if retry >= self._retry.attempts:
            return False
        wait = self._retry.backoff(retry, self._rng)
        if deadline is not None and deadline - self._clock() < wait + MIN_RETRY_SECONDS:
            return False
        await asyncio.sleep(wait)
        return True

    def _error(self, error: UpstreamError) -> Exception:
        name = self.config.name
        if isinstance(error, UpstreamRejected):
            return InvalidArgument(f"model {name}: {error}")
        if isinstance(error, UpstreamTimeout):
            return DeadlineExceeded(f"model {name}: {error}")
        return Unavailable(f"model {name}: {error}")

    def _raise(self, error: BaseException) -> None:
        if isinstance(error, UpstreamError):
            raise self._error(error) from error
        raise error

    async def generate(
        self, request: UpstreamRequest, deadline: float | None, attempts: Attempts
    ) -> UpstreamAnswer:
        """One answer, retried while the upstream is unavailable and time allows."""
        first = self._clock()
        try:
            while True:
                attempts.count += 1
                budget, by_deadline = await self._admit(deadline)
                started = self._clock()
                try:
                    answer = await self.backend.generate(request, budget)
                except BaseException as exc:
                    self._settle(exc, by_deadline, started)
                    error = exc
                else:
                    self._settle(None, by_deadline, started)
                    return answer
                finally:
                    self._release()
                retry = isinstance(error, UpstreamUnavailable)
                if not (retry and await self._backoff(attempts.count, deadline)):
                    self._raise(error)
        finally:
            attempts.seconds = self._clock() - first

    async def generate_stream(
        self, request: UpstreamRequest, deadline: float | None, attempts: Attempts
    ) -> AsyncIterator[TokenPiece | UpstreamAnswer]:
        """Pieces then the answer; retried like generate() while nothing has been streamed."""
        first = self._clock()
        try:
            while True:
                attempts.count += 1
                budget, by_deadline = await self._admit(deadline)
                started = self._clock()
                streamed = False
                try:
                    async with contextlib.aclosing(
                        self.backend.generate_stream(request, budget)
                    ) as stream:
                        async for item in stream:
                            streamed = True
                            yield item
                except BaseException as exc:
                    self._settle(exc, by_deadline, started)
                    error = exc
                else:
                    self._settle(None, by_deadline, started)
                    return
                finally:
                    self._release()
                retry = isinstance(error, UpstreamUnavailable) and not streamed
                if not (retry and await self._backoff(attempts.count, deadline)):
                    self._raise(error)
        finally:
            attempts.seconds = self._clock() - first
