"""The quota ledger on a real PostgreSQL: OS processes racing for one tenant's quota, a
holder killed with SIGKILL, and the database going away and coming back."""

import subprocess
import sys
import time

import psycopg
import pytest

from rpc.quota_ledger import Hold, QuotaLedgerUnavailable, Refusal, Reservation, open_ledger
from search_core.store import open_store
from tests.support.quota_racer import DAY, TENANT, Race, run_race


def until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_processes_racing_for_holds_never_take_more_than_the_limit(postgres_url):
    granted = run_race(Race(postgres_url, "hold", limit=6, tries=10), processes=4)
    assert sum(granted) == 6, granted
    with open_ledger(postgres_url) as ledger:
        assert ledger.held("concurrent_checks", TENANT) == 6


def test_processes_racing_for_a_daily_amount_never_take_more_than_the_limit(postgres_url):
    race = Race(postgres_url, "reserve", limit=100, tries=15, amount=7, settle_every=3)
    granted = run_race(race, processes=4)
    assert sum(granted) == 98, granted  # 14 of 7 fit in 100
    with open_ledger(postgres_url) as ledger:
        charged = ledger.used("daily_tokens", TENANT, DAY)
        assert charged > 0
        assert charged + ledger.held("daily_tokens", TENANT, DAY) == 98


def test_the_holds_of_a_process_killed_with_sigkill_lapse_after_their_ttl(postgres_url):
    ttl = 2.0
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.support.quota_racer", postgres_url, str(ttl)],
        stdout=subprocess.PIPE,
        text=True,
    )
    ledger = open_ledger(postgres_url)
    try:
        assert holder.stdout.readline().strip() == "held"
        time.sleep(3 * ttl)  # alive: its renewer keeps the hold
        assert isinstance(ledger.hold("concurrent_checks", "victim", 1), Refusal)
        holder.kill()  # SIGKILL: no close(), no release
        holder.wait(10)
        killed_at = time.monotonic()
        assert until(lambda: ledger.held("concurrent_checks", "victim") == 0, 2 * ttl)
        assert time.monotonic() - killed_at <= ttl + 1.0
        assert isinstance(ledger.hold("concurrent_checks", "victim", 1), Hold)
    finally:
        holder.kill()
        ledger.close()


def test_a_ledger_whose_database_is_down_refuses_then_works_again(postgres_server, postgres_url):
    ledger = open_ledger(postgres_url)
    running = ledger.reserve("daily_tokens", "acme", DAY, 500, 1000)
    assert isinstance(running, Reservation)
    postgres_server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(QuotaLedgerUnavailable, match=r"the quota ledger \(postgresql://"):
            ledger.hold("concurrent_checks", "acme", 2)
        with pytest.raises(QuotaLedgerUnavailable):
            ledger.reserve("daily_tokens", "acme", DAY, 1, 1000)
        assert time.monotonic() - started < 10  # refused promptly, not after a hang
        running.settle(120)  # does not raise: the charge waits for the database
    finally:
        postgres_server.start()
    assert isinstance(ledger.hold("concurrent_checks", "acme", 2), Hold)  # reconnected
    ledger.renew_all()  # the renewer's turn: the held-back charge lands
    assert ledger.used("daily_tokens", "acme", DAY) == 120
    assert ledger.held("daily_tokens", "acme", DAY) == 0
    ledger.close()


def test_the_ledger_shares_a_database_with_the_search_store(postgres_url):
    """Deployments point NASFORGE_QUOTA_LEDGER at search_core's database: the ledger's
    quota_* tables and the store's live side by side, each migrating without the other."""
    with open_store(postgres_url):
        pass
    with open_ledger(postgres_url) as ledger:
        assert isinstance(ledger.hold("concurrent_checks", "acme", 1), Hold)
    with open_store(postgres_url) as store:  # migrates again, next to the ledger's tables
        assert store.list_searches("acme") == []
    with psycopg.connect(postgres_url) as conn:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
    assert {"quota_holds", "quota_usage", "searches", "schema_version"} <= tables
