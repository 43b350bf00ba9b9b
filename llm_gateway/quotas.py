"""Per-tenant limits: a token bucket of requests and a daily quota of LLM tokens.

A request is admitted when the tenant's bucket holds a request and the day's quota can hold
the request's worst case (its prompt estimate plus max_new_tokens). The worst case is
reserved while the request runs, and the real count (prompt + generated tokens) is charged
when it ends, so concurrent requests cannot overrun the quota together. Days are UTC days.

A tenant's daily quota is its registry entry's llm_tokens_per_day when set (read at each
request, so a changed registry file applies at once), else its settings' daily_tokens.
The charged tokens are kept in a UsageLedger: in memory, or in a SQLite file
(NASFORGE_GATEWAY_USAGE_DB) so that a restart does not give a tenant a fresh day. Holds and
token buckets live in this process. Replicas each count their own usage unless they share
the file (one host, one volume); then they share the charged count, not the holds.
"""

import math
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llm_gateway.config import TenantLimits
from rpc.admission import QuotaLookup, exceeded, refusal, tenant_limit

SECONDS_PER_DAY = 86_400
KEEP_DAYS = 31  # rows of older days are deleted when a ledger opens


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


class UsageLedger:
    """Tokens charged per (tenant, UTC day): one row each, in memory or in a SQLite file."""

    def __init__(self, path: Path | None = None, *, today: int | None = None) -> None:
        self._db = sqlite3.connect(
            str(path) if path is not None else ":memory:",
            isolation_level=None,  # autocommit: each charge is its own transaction
            check_same_thread=False,
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")  # replicas sharing the file
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS daily_usage (tenant TEXT NOT NULL, day INTEGER NOT NULL,"
            " tokens INTEGER NOT NULL, PRIMARY KEY (tenant, day))"
        )
        if today is not None:
            self._db.execute("DELETE FROM daily_usage WHERE day < ?", (today - KEEP_DAYS,))

    def used(self, tenant: str, day: int) -> int:
        row = self._db.execute(
            "SELECT tokens FROM daily_usage WHERE tenant = ? AND day = ?", (tenant, day)
        ).fetchone()
        return row[0] if row else 0

    def charge(self, tenant: str, day: int, tokens: int) -> None:
        if tokens <= 0:
            return
        self._db.execute(
            "INSERT INTO daily_usage (tenant, day, tokens) VALUES (?, ?, ?)"
            " ON CONFLICT (tenant, day) DO UPDATE SET tokens = tokens + excluded.tokens",
            (tenant, day, tokens),
        )

    def close(self) -> None:
        self._db.close()


@dataclass
class _Holds:
    """Tokens held by a tenant's running requests, on one day."""

    day: int
    reserved: int = 0


class Reservation:
    """Tokens held for a running request; settle() charges what it really used."""

    def __init__(
        self, ledger: UsageLedger, holds: _Holds, tenant: str, day: int, amount: int
    ) -> None:
        self._ledger = ledger
        self._holds = holds
        self._tenant = tenant
        self._day = day
        self.amount = amount
        self._open = True

    def settle(self, used_tokens: int) -> None:
        """Release the hold and charge ``used_tokens`` (0 when the request produced nothing)."""
        if not self._open:
            return
        self._open = False
        if self._holds.day == self._day:  # a hold from yesterday lapsed at midnight
            self._holds.reserved -= self.amount
        self._ledger.charge(self._tenant, self._day, used_tokens)  # to the day it began


class TenantQuotas:
    """The limits of every tenant; tenants without their own limits get the defaults."""

    def __init__(
        self,
        defaults: TenantLimits,
        overrides: dict[str, TenantLimits] | None = None,
        *,
        registry: QuotaLookup | None = None,
        usage_db: Path | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._defaults = defaults
        self._overrides = dict(overrides or {})
        self._registry = registry  # tenant -> its registry quotas (follows the file)
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._ledger = UsageLedger(usage_db, today=self._today())
        self._buckets: dict[str, TokenBucket] = {}
        self._holds: dict[str, _Holds] = {}

    def limits(self, tenant: str) -> TenantLimits:
        return self._overrides.get(tenant, self._defaults)

    def daily_tokens(self, tenant: str) -> int:
        """The registry's llm_tokens_per_day of the tenant, else its settings' daily_tokens."""
        setting = self.limits(tenant).daily_tokens
        return tenant_limit(self._registry, tenant, "llm_tokens_per_day", setting)

    def used_today(self, tenant: str) -> int:
        return self._ledger.used(tenant, self._today())

    def close(self) -> None:
        self._ledger.close()

    def _today(self) -> int:
        return int(self._wall_clock() // SECONDS_PER_DAY)

    def admit(self, tenant: str, worst_case_tokens: int) -> Reservation:
        """Take a request from the bucket and reserve tokens; RESOURCE_EXHAUSTED if either fails."""
        limits = self.limits(tenant)
        daily_tokens = self.daily_tokens(tenant)
        day = self._today()
        holds = self._holds.get(tenant)
        if holds is None or holds.day != day:
            holds = self._holds[tenant] = _Holds(day)
        used = self._ledger.used(tenant, day) + holds.reserved
        if worst_case_tokens > daily_tokens - used:
            until_midnight = (day + 1) * SECONDS_PER_DAY - self._wall_clock()
            raise exceeded(
                tenant,
                "daily_tokens",
                used=used,
                limit=daily_tokens,
                asking=worst_case_tokens,
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
            raise refusal(  # a token bucket's refusal: the rate, not a count, is its limit
                tenant,
                "requests_per_minute",  # an integer even for 0.5/s
                limits.requests_per_second * 60,
                message=f"rate limit of tenant {tenant}: {limits.requests_per_second:g} "
                f"requests/s, burst {limits.burst}",
                description=f"{limits.requests_per_second:g} requests a second, bursts of "
                f"{limits.burst}; retry in {wait:.2f}s",
                retry_after_seconds=wait,
            )
        holds.reserved += worst_case_tokens
        return Reservation(self._ledger, holds, tenant, day, worst_case_tokens)
