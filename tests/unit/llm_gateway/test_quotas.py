"""Per-tenant token buckets and daily token quotas, on injected clocks."""

import sqlite3
import time
from contextlib import closing

import pytest

from llm_gateway.config import GatewaySettings, TenantLimits
from llm_gateway.quotas import SECONDS_PER_DAY, TenantQuotas, TokenBucket, open_token_ledger
from rpc.errors import QuotaExceeded
from rpc.quota_ledger import SqliteLedger
from rpc.tenants import Quotas, TenantDirectory, edit_registry


class Clock:
    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocks():
    return Clock(100.0), Clock(10 * SECONDS_PER_DAY + 3600.0)  # monotonic, wall (01:00 UTC)


def quotas(clocks, **limits):
    monotonic, wall = clocks
    defaults = TenantLimits(**{"requests_per_second": 1000, "burst": 1000, **limits})
    return TenantQuotas(
        defaults, {"vip": TenantLimits(daily_tokens=10**9)}, monotonic=monotonic, wall_clock=wall
    )


def test_bucket_admits_a_burst_then_one_request_per_interval():
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(10.0) == 0.0  # refills, but never beyond the burst
    assert [bucket.take(10.0) for _ in range(3)][-1] == pytest.approx(0.5)


def test_rate_limit_answers_with_the_quota_and_when_to_retry(clocks):
    limits = quotas(clocks, requests_per_second=0.5, burst=2)
    limits.admit("acme", 10).settle(10)
    limits.admit("acme", 10).settle(10)
    with pytest.raises(QuotaExceeded) as error:
        limits.admit("acme", 10)
    (violation,) = error.value.violations
    assert (violation.subject, violation.quota_id, violation.limit) == (
        "tenant:acme",
        "requests_per_minute",
        30,
    )
    assert error.value.retry_after_seconds == pytest.approx(2.0)
    limits.admit("beta", 10)  # another tenant has its own bucket
    clocks[0].now += 2.0
    limits.admit("acme", 10)


def test_daily_quota_holds_the_worst_case_then_charges_the_real_count(clocks):
    limits = quotas(clocks, daily_tokens=1000)
    first = limits.admit("acme", 600)
    with pytest.raises(QuotaExceeded, match="daily token quota"):
        limits.admit("acme", 500)  # 600 are held by the running request
    first.settle(250)
    assert limits.used_today("acme") == 250
    second = limits.admit("acme", 700)
    second.settle(700)
    second.settle(5)  # settling twice changes nothing
    assert limits.used_today("acme") == 950
    with pytest.raises(QuotaExceeded) as error:
        limits.admit("acme", 51)
    (violation,) = error.value.violations
    assert violation.quota_id == "daily_tokens" and violation.limit == 1000
    assert "50 left" in violation.description
    assert error.value.retry_after_seconds == 23 * 3600  # until midnight UTC
    limits.admit("vip", 10**6)  # a tenant with its own limits


def test_the_quota_starts_afresh_each_utc_day(clocks):
    limits = quotas(clocks, daily_tokens=100)
    held = limits.admit("acme", 100)
    clocks[1].now += SECONDS_PER_DAY
    assert limits.used_today("acme") == 0
    limits.admit("acme", 100).settle(100)
    held.settle(100)  # yesterday's request ends: charged to yesterday, not today
    assert limits.used_today("acme") == 100


def test_a_rejected_request_takes_no_request_from_the_bucket(clocks):
    limits = quotas(clocks, requests_per_second=1, burst=1, daily_tokens=10)
    with pytest.raises(QuotaExceeded, match="daily"):
        limits.admit("acme", 11)
    limits.admit("acme", 10)


@pytest.fixture
def registry_file(tmp_path):
    path = tmp_path / "tenants.json"
    with edit_registry(path) as registry:
        registry.add_tenant("acme", Quotas(llm_tokens_per_day=300))
        registry.add_tenant("beta")  # no quota in the registry: the settings' one applies
    return path


def test_daily_tokens_come_from_the_registry_and_follow_its_changes(clocks, registry_file):
    directory = TenantDirectory.from_file(registry_file, check_interval_seconds=0)
    monotonic, wall = clocks
    defaults = TenantLimits(requests_per_second=1000, burst=1000, daily_tokens=1000)
    limits = TenantQuotas(
        defaults,
        {"vip": TenantLimits(daily_tokens=50)},
        registry=directory.quotas,
        monotonic=monotonic,
        wall_clock=wall,
    )
    assert [limits.daily_tokens(t) for t in ("acme", "beta", "vip")] == [300, 1000, 50]
    limits.admit("acme", 300).settle(300)
    with pytest.raises(QuotaExceeded) as error:
        limits.admit("acme", 1)
    (violation,) = error.value.violations
    assert (violation.quota_id, violation.limit) == ("daily_tokens", 300)
    limits.admit("beta", 1000)  # another tenant is unaffected

    with edit_registry(registry_file) as registry:  # the next request sees the change
        registry.set_quotas("acme", {"llm_tokens_per_day": 400})
    limits.admit("acme", 100)
    with edit_registry(registry_file) as registry:
        registry.set_quotas("acme", {"llm_tokens_per_day": None})
    assert limits.daily_tokens("acme") == 1000


def test_the_usage_database_outlives_a_restart_and_keeps_days_apart(clocks, tmp_path):
    monotonic, wall = clocks
    database = tmp_path / "usage.db"

    def gateway() -> TenantQuotas:
        defaults = TenantLimits(requests_per_second=1000, burst=1000, daily_tokens=1000)
        ledger = SqliteLedger(database, clock=wall)
        return TenantQuotas(defaults, ledger=ledger, monotonic=monotonic, wall_clock=wall)

    first = gateway()
    first.admit("acme", 900).settle(700)
    first.admit("beta", 10).settle(10)
    held = first.admit("acme", 200)  # still running when the process stops: never charged
    first.close()  # a clean stop gives its holds back (a killed one's lapse after their ttl)
    del held

    again = gateway()  # a restarted gateway on the same file
    assert again.used_today("acme") == 700 and again.used_today("beta") == 10
    with pytest.raises(QuotaExceeded, match="700 of 1000"):
        again.admit("acme", 301)
    again.admit("beta", 990)  # another tenant is unaffected
    late = again.admit("acme", 300)
    wall.now += SECONDS_PER_DAY  # midnight UTC
    late.settle(250)  # charged to the day it began
    assert again.used_today("acme") == 0
    again.admit("acme", 1000).settle(1000)
    again.close()

    last = gateway()
    assert last.used_today("acme") == 1000
    wall.now -= SECONDS_PER_DAY
    assert last.used_today("acme") == 950  # yesterday's row: 700 + 250
    last.close()


def test_the_ledger_is_the_shared_one_else_the_usage_file_else_memory(tmp_path, monkeypatch):
    for name in ("NASFORGE_QUOTA_LEDGER", "NASFORGE_GATEWAY_USAGE_DB"):
        monkeypatch.delenv(name, raising=False)
    assert GatewaySettings().ledger_url() == ""
    monkeypatch.setenv("NASFORGE_GATEWAY_USAGE_DB", str(tmp_path / "usage.db"))
    assert GatewaySettings().ledger_url() == str(tmp_path / "usage.db")
    monkeypatch.setenv("NASFORGE_QUOTA_LEDGER", "postgresql://db/nasforge")
    assert GatewaySettings().ledger_url() == "postgresql://db/nasforge"
    assert GatewaySettings(quota_ledger="sqlite:///x.db").ledger_url() == "sqlite:///x.db"


def test_the_usage_file_of_an_older_gateway_keeps_its_days(tmp_path):
    database = tmp_path / "usage.db"
    today = int(time.time() // SECONDS_PER_DAY)  # a ledger drops days a month old
    with closing(sqlite3.connect(database, isolation_level=None)) as old:
        old.execute(
            "CREATE TABLE daily_usage (tenant TEXT NOT NULL, day INTEGER NOT NULL,"
            " tokens INTEGER NOT NULL, PRIMARY KEY (tenant, day))"
        )
        old.execute(
            "INSERT INTO daily_usage VALUES ('acme', ?, 700), ('beta', ?, 5)", (today, today - 1)
        )
    ledger = open_token_ledger(GatewaySettings(usage_db=database))
    limits = TenantQuotas(TenantLimits(daily_tokens=1000), ledger=ledger)
    assert limits.used_today("acme") == 700
    with pytest.raises(QuotaExceeded, match="700 of 1000"):
        limits.admit("acme", 301)
    limits.close()
    with closing(sqlite3.connect(database)) as upgraded:
        tables = {name for (name,) in upgraded.execute("SELECT name FROM sqlite_master")}
    assert "daily_usage" not in tables and "quota_usage" in tables
