"""The ledger's tables and queries, in the SQL that SQLite and PostgreSQL both speak.

Queries are written with "?" markers (PostgreSQL's backend swaps in "%s"); they hold no other
"?" or "%". Tables are prefixed quota_ so that they can share a database with search_core's
store. Amounts are doubles (tokens are whole and exact far beyond any daily quota; GPU
minutes are not whole); times are Unix seconds on the ledger's clock.
"""

SCHEMA = (
    # A live claim on a quota: a concurrency hold (day NULL) or an amount held against a
    # day's quota until its holder settles it. It counts while expires_at is ahead.
    """CREATE TABLE IF NOT EXISTS quota_holds (
        id TEXT PRIMARY KEY,
        quota TEXT NOT NULL,
        tenant TEXT NOT NULL,
        day INTEGER,
        amount DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        ttl_s DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS quota_holds_by_tenant ON quota_holds (quota, tenant, day)",
    # What was charged to a daily quota: one row per (quota, tenant, UTC day).
    """CREATE TABLE IF NOT EXISTS quota_usage (
        quota TEXT NOT NULL,
        tenant TEXT NOT NULL,
        day INTEGER NOT NULL,
        amount DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (quota, tenant, day)
    )""",
)

PRUNE_USAGE = "DELETE FROM quota_usage WHERE day < ?"

DELETE_EXPIRED = "DELETE FROM quota_holds WHERE quota = ? AND tenant = ? AND expires_at <= ?"

HELD = "SELECT SUM(amount) FROM quota_holds WHERE quota = ? AND tenant = ? AND expires_at > ?"

HELD_ON_DAY = (
    "SELECT SUM(amount) FROM quota_holds"
    " WHERE quota = ? AND tenant = ? AND day = ? AND expires_at > ?"
)

CHARGED = "SELECT amount FROM quota_usage WHERE quota = ? AND tenant = ? AND day = ?"

INSERT_HOLD = (
    "INSERT INTO quota_holds (id, quota, tenant, day, amount, expires_at, ttl_s)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)

# Only a hold that has not lapsed is renewed: once lapsed, others may have taken its place.
RENEW = "UPDATE quota_holds SET expires_at = ? + ttl_s WHERE id = ? AND expires_at > ? RETURNING id"

DELETE_HOLD = "DELETE FROM quota_holds WHERE id = ?"

CHARGE = (
    "INSERT INTO quota_usage (quota, tenant, day, amount) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (quota, tenant, day) DO UPDATE SET amount = quota_usage.amount + excluded.amount"
)
