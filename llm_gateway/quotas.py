"""Per-tenant limits: a token bucket of requests and a daily quota of LLM tokens.

A request is admitted when the tenant's bucket holds a request and the day's quota can hold
the request's worst case (its prompt estimate plus max_new_tokens). The worst case is
reserved while the request runs, and the real count (prompt + generated tokens) is charged
when it ends, so concurrent requests cannot overrun the quota together. Days are UTC days.
The state lives in this process: replicas of the gateway each keep their own.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from llm_gateway.config import TenantLimits
from rpc.errors import QuotaExceeded, QuotaViolation

SECONDS_PER_DAY = 86_400


class TokenBucket:
    """``rate`` requests a second, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = now

    def take(self, now: float) -> float:
        """0 when a request may go now (and takes it), else seconds until one may."""
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


@dataclass
class _DailyUsage:
    day: int
    used: int = 0
    reserved: int = 0


class Reservation:
    """Tokens held for a running request; settle() charges what it really used."""

    def __init__(self, usage: _DailyUsage, day: int, amount: int) -> None:
        self._usage = usage
        self._day = day
        self.amount = amount
        self._open = True

    def settle(self, used_tokens: int) -> None:
        """Release the hold and charge ``used_tokens`` (0 when the request produced nothing)."""
        if not self._open:
            return
        self._open = False
        if self._usage.day == self._day:  # a hold from yesterday lapsed at midnight
            self._usage.reserved -= self.amount
            self._usage.used += max(used_tokens, 0)


class TenantQuotas:
    """The limits of every tenant; tenants without their own limits get the defaults."""

    def __init__(
        self,
        defaults: TenantLimits,
        overrides: dict[str, TenantLimits] | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._defaults = defaults
        self._overrides = dict(overrides or {})
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._buckets: dict[str, TokenBucket] = {}
        self._usage: dict[str, _DailyUsage] = {}

    def limits(self, tenant: str) -> TenantLimits:
        return self._overrides.get(tenant, self._defaults)

    def used_today(self, tenant: str) -> int:
        usage = self._usage.get(tenant)
        return usage.used if usage and usage.day == self._today() else 0

    def _today(self) -> int:
        return int(self._wall_clock() // SECONDS_PER_DAY)

    def admit(self, tenant: str, worst_case_tokens: int) -> Reservation:
        """Take a request from the bucket and reserve tokens; RESOURCE_EXHAUSTED if either fails."""
        limits = self.limits(tenant)
        day = self._today()
        usage = self._usage.get(tenant)
        if usage is None or usage.day != day:
            usage = self._usage[tenant] = _DailyUsage(day)
        left = limits.daily_tokens - usage.used - usage.reserved
        if worst_case_tokens > left:
            until_midnight = (day + 1) * SECONDS_PER_DAY - self._wall_clock()
            raise QuotaExceeded(
                f"daily token quota of tenant {tenant} is used up: "
                f"{usage.used + usage.reserved} of {limits.daily_tokens} tokens used or held, "
                f"this request may need {worst_case_tokens}",
                violations=(
                    QuotaViolation(
                        subject=f"tenant:{tenant}",
                        quota_id="daily_tokens",
                        limit=limits.daily_tokens,
                        description=(
                            f"{limits.daily_tokens} prompt + generated tokens a UTC day; "
                            f"{max(left, 0)} left, the request may need {worst_case_tokens}"
                        ),
                    ),
                ),
                retry_after_seconds=math.ceil(until_midnight),
            )
        now = self._monotonic()
        bucket = self._buckets.get(tenant)
        if bucket is None or (bucket.rate, bucket.burst) != (
            limits.requests_per_second,
            limits.burst,
        ):
            bucket = self._buckets[tenant] = TokenBucket(
                limits.requests_per_second, limits.burst, now
            )
        wait = bucket.take(now)
        if wait > 0:
            raise QuotaExceeded(
                f"rate limit of tenant {tenant}: {limits.requests_per_second:g} requests/s, "
                f"burst {limits.burst}",
                violations=(
                    QuotaViolation(
                        subject=f"tenant:{tenant}",
                        quota_id="requests_per_minute",  # an integer even for 0.5/s
                        limit=round(limits.requests_per_second * 60),
                        description=(
                            f"{limits.requests_per_second:g} requests a second, bursts of "
                            f"{limits.burst}; retry in {wait:.2f}s"
                        ),
                    ),
                ),
                retry_after_seconds=wait,
            )
        usage.reserved += worst_case_tokens
        return Reservation(usage, day, worst_case_tokens)
