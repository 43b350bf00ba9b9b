"""Retry backoff, the circuit breaker and the upstream concurrency bound."""

import asyncio
import random

import pytest

from llm_gateway.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    RetryPolicy,
    UpstreamLimiter,
)
from rpc.errors import QuotaExceeded


def test_backoff_is_jittered_and_capped():
    policy = RetryPolicy(attempts=5, initial_backoff_seconds=0.1, max_backoff_seconds=0.3)
    rng = random.Random(7)
    waits = [[policy.backoff(retry, rng) for _ in range(200)] for retry in (1, 2, 3, 4)]
    assert all(0 <= wait <= 0.1 for wait in waits[0])
    assert all(0 <= wait <= 0.2 for wait in waits[1])
    assert all(0 <= wait <= 0.3 for wait in waits[2] + waits[3])  # capped
    assert len({round(wait, 6) for wait in waits[1]}) > 100  # jitter: not one fixed delay
    assert max(waits[2]) > 0.25


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_consecutive_failures_and_probes_once_after_the_cool_down():
    clock, changes = Clock(), []
    breaker = CircuitBreaker(3, 10.0, clock=clock, on_change=changes.append)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    breaker.before_call()
    breaker.record_success()  # success resets the count
    for _ in range(3):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as error:
        breaker.before_call()
    assert error.value.retry_after_seconds == pytest.approx(10.0)
    clock.now = 10.5
    breaker.before_call()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # only one probe at a time
    breaker.record_failure()  # a failed probe opens it again for a full cool-down
    assert breaker.state is BreakerState.OPEN
    clock.now = 15.0
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now = 21.0
    breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_a_neutral_probe_lets_the_next_call_probe():
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    clock.now = 6.0
    breaker.before_call()
    breaker.record_neutral()  # e.g. the caller's deadline was too short to tell
    breaker.before_call()
    assert breaker.state is BreakerState.HALF_OPEN


async def test_limiter_bounds_concurrency_and_its_queue():
    limiter = UpstreamLimiter(limit=2, max_queued=1)
    await limiter.acquire()
    await limiter.acquire()
    assert limiter.in_flight == 2
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    with pytest.raises(QuotaExceeded, match="waiting"):
        await limiter.acquire()  # the queue of one is full
    limiter.release()
    await asyncio.wait_for(waiting, 1)
    assert limiter.in_flight == 2
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await limiter.acquire()
    limiter.release()
    limiter.release()
    await limiter.acquire()  # the timed-out waiter left the queue
