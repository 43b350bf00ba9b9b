"""Per-tenant quotas that hold across replicas: a shared ledger with atomic check-and-reserve.

Two kinds of quota, kept in tables of one database (SQLite for one host, PostgreSQL for
replicas anywhere):

- concurrency (concurrent_checks, concurrent_trainings): `hold()` counts the tenant's live
  holds and adds one only under the limit; the holder releases it when done.
- daily amounts (daily_tokens, gpu_minutes_per_day): `reserve()` holds a request's worst case
  only while the UTC day's charged amount plus live holds plus it stay within the limit;
  `settle(actual)` swaps the hold for the real amount, charged to that day.

The count and the insert after it are one transaction that no other process can interleave
with for the same (quota, tenant). Holds expire: the process holding them renews them
(rpc.quota_ledger.renewal), so a replica that dies loses its holds a ttl later. A ledger that
cannot reach its database raises QuotaLedgerUnavailable (UNAVAILABLE): a quota is refused,
never granted unchecked. Services select the ledger with NASFORGE_QUOTA_LEDGER.
"""

import os

from pydantic import Field

from rpc.quota_ledger.base import DEFAULT_TTL_SECONDS, SECONDS_PER_DAY, QuotaLedger, utc_day
from rpc.quota_ledger.errors import QuotaLedgerUnavailable
from rpc.quota_ledger.holds import Hold, Refusal, Reservation
from rpc.quota_ledger.sqlite import SqliteLedger

LEDGER_ENV = "NASFORGE_QUOTA_LEDGER"  # one variable for every service that enforces quotas


def open_ledger(url: str | os.PathLike[str], *, ttl_s: float = DEFAULT_TTL_SECONDS) -> QuotaLedger:
    """The ledger that ``url`` names, as search_core's store reads its URL:

    - "postgresql://..." or "postgres://..." (a libpq URL): PostgresLedger, for replicas;
    - "sqlite:///relative/file.db", "sqlite:////absolute/file.db" (SQLAlchemy's spelling) or
      a plain path: SqliteLedger on that file, for the processes of one host;
    - "" or ":memory:": SqliteLedger in memory, for this process alone.

    Nothing is connected yet: a database that is down makes the first call fail, not this.
    """
    text = os.fspath(url).strip()
    if text.startswith(("postgresql://", "postgres://")):
        from rpc.quota_ledger.postgres import PostgresLedger  # psycopg only when asked for

        return PostgresLedger(text, ttl_s=ttl_s)
    path = text.removeprefix("sqlite:///")
    if path in ("", ":memory:"):
        return SqliteLedger(None, ttl_s=ttl_s)
    if "://" in path:
        raise ValueError(
            f"unsupported quota ledger {text!r}: expected postgresql://..., sqlite:///<path>, "
            "a file path, or empty (in memory)"
        )
    return SqliteLedger(path, ttl_s=ttl_s)


def ledger_setting(description: str) -> str:
    """The pydantic field of a service's ledger URL, read from NASFORGE_QUOTA_LEDGER whatever
    the service's env prefix (its settings class needs populate_by_name=True)."""
    return Field("", validation_alias=LEDGER_ENV, description=description)


__all__ = [
    "DEFAULT_TTL_SECONDS",
    "LEDGER_ENV",
    "SECONDS_PER_DAY",
    "Hold",
    "QuotaLedger",
    "QuotaLedgerUnavailable",
    "Refusal",
    "Reservation",
    "SqliteLedger",
    "ledger_setting",
    "open_ledger",
    "utc_day",
]
