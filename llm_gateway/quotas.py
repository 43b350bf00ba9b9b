"""Per-tenant limits: a token bucket of requests and a daily quota of LLM tokens.

A request is admitted when the tenant's bucket holds a request and the day's quota can hold
the request's worst case (its prompt estimate plus max_new_tokens). The worst case is
reserved while the request runs, and the real count (prompt + generated tokens) is charged
when it ends, so concurrent requests cannot overrun the quota together. Days are UTC days.

A tenant's daily quota is its registry entry's llm_tokens_per_day when set (read at each
request, so a changed registry file applies at once), else its settings' daily_tokens.
Charged tokens and the holds of running requests are kept in the quota ledger
(rpc.quota_ledger): with NASFORGE_QUOTA_LEDGER on a shared database, every gateway replica
counts against the same quota, checked and reserved atomically; with a SQLite file
(NASFORGE_GATEWAY_USAGE_DB) the gateways of one host share it and a restart does not give a
tenant a fresh day; else this process counts alone, in memory. The token bucket of requests
a second stays in each process: N replicas admit up to N times a tenant's rate.
"""

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from llm_gateway.config import GatewaySettings, TenantLimits
from rpc.admission import QuotaLookup, refusal, tenant_limit
from rpc.quota_ledger import (
    SECONDS_PER_DAY,
    QuotaLedger,
    Refusal,
    Reservation,
    SqliteLedger,
    open_ledger,
    sql,
    utc_day,
)

QUOTA = "daily_tokens"  # the quota's name in the ledger and in refusals (rpc.admission)

__all__ = ["SECONDS_PER_DAY", "Reservation", "TenantQuotas", "TokenBucket", "open_token_ledger"]


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

    def give_back(self) -> None:
        """Return the request taken last (the request was refused for another reason)."""
        self._tokens = min(float(self.burst), self._tokens + 1.0)


def open_token_ledger(settings: GatewaySettings) -> QuotaLedger:
    """The gateway's quota ledger (GatewaySettings.ledger_url). On the usage_db file, the rows
    of the table the gateway kept there before the ledger (daily_usage) move into it first,
    so the upgrade does not give tenants a fresh day."""
    url = settings.ledger_url()
    if settings.usage_db is not None and url == str(settings.usage_db):
        _adopt_daily_usage(settings.usage_db)
    return open_ledger(url)


def _adopt_daily_usage(path: Path) -> None:
    if not path.is_file():
        return
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        old = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'daily_usage'"
        if db.execute(old).fetchone():
            for statement in sql.SCHEMA:
                db.execute(statement)
            db.execute(
                "INSERT INTO quota_usage (quota, tenant, day, amount)"
                " SELECT ?, tenant, day, tokens FROM daily_usage WHERE true"
                " ON CONFLICT (quota, tenant, day)"
                " DO UPDATE SET amount = quota_usage.amount + excluded.amount",
                (QUOTA,),
            )
            db.execute("DROP TABLE daily_usage")
        db.execute("COMMIT")


class TenantQuotas:
    """The limits of every tenant; tenants without their own limits get the defaults.

    ``ledger`` counts the daily tokens (open_token_ledger); None: this process alone, in
    memory. Its calls block: admit() and the reservations' settle() are for a worker thread.
    """

    def __init__(
        self,
        defaults: TenantLimits,
        overrides: dict[str, TenantLimits] | None = None,
        *,
        registry: QuotaLookup | None = None,
        ledger: QuotaLedger | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._defaults = defaults
        self._overrides = dict(overrides or {})
        self._registry = registry  # tenant -> its registry quotas (follows the file)
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._ledger = ledger if ledger is not None else SqliteLedger(None, clock=wall_clock)
        self._buckets: dict[str, TokenBucket] = {}
        self._buckets_lock = threading.Lock()  # admit() runs in worker threads

    def limits(self, tenant: str) -> TenantLimits:
        return self._overrides.get(tenant, self._defaults)

    def daily_tokens(self, tenant: str) -> int:
        """The registry's llm_tokens_per_day of the tenant, else its settings' daily_tokens."""
        setting = self.limits(tenant).daily_tokens
        return tenant_limit(self._registry, tenant, "llm_tokens_per_day", setting)

    def used_today(self, tenant: str) -> int:
        """Tokens charged to ``tenant`` this UTC day, by every gateway on the ledger."""
        return int(self._ledger.used(QUOTA, tenant, self._today()))

    def close(self) -> None:
        self._ledger.close()

    def _today(self) -> int:
        return utc_day(self._wall_clock())

    def admit(self, tenant: str, worst_case_tokens: int) -> Reservation:
        """Take a request from the bucket and reserve tokens; RESOURCE_EXHAUSTED if either
        fails, UNAVAILABLE (QuotaLedgerUnavailable) when the ledger is out of reach."""
        bucket = self._take_request(tenant)
        day = self._today()
        try:
            granted = self._ledger.reserve(
                QUOTA, tenant, day, worst_case_tokens, self.daily_tokens(tenant)
            )
        except BaseException:
            self._give_back(bucket)
            raise
        if isinstance(granted, Refusal):
            self._give_back(bucket)  # a refused request takes no request from the bucket
            until_midnight = (day + 1) * SECONDS_PER_DAY - self._wall_clock()
            raise granted.error(retry_after_seconds=math.ceil(until_midnight))
        return granted

    def _take_request(self, tenant: str) -> TokenBucket:
        """The tenant's bucket, a request taken from it; RESOURCE_EXHAUSTED when empty."""
        limits = self.limits(tenant)
        with self._buckets_lock:
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
        return bucket

    def _give_back(self, bucket: TokenBucket) -> None:
        with self._buckets_lock:
            bucket.give_back()
