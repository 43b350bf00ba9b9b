"""The quota ledger on SQLite: holds, daily reservations, expiry, and racers that try to
take more than the limit (threads on one file, then OS processes); the same attacks on a
real PostgreSQL are in tests/integration/quotas."""

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from rpc.errors import QuotaExceeded, Unavailable
from rpc.quota_ledger import (
    SECONDS_PER_DAY,
    Hold,
    QuotaLedgerUnavailable,
    Refusal,
    Reservation,
    SqliteLedger,
    open_ledger,
    utc_day,
)
from tests.support.quota_racer import DAY, TENANT, Race, run_race

START = DAY * SECONDS_PER_DAY + 3600.0  # 01:00 UTC


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ledger(tmp_path, clock):
    instance = SqliteLedger(tmp_path / "ledger.db", clock=clock, ttl_s=30)
    yield instance
    instance.close()


def test_a_hold_is_granted_under_the_limit_and_refused_at_it(ledger):
    first = ledger.hold("concurrent_checks", "acme", 2)
    second = ledger.hold("concurrent_checks", "acme", 2)
    assert isinstance(first, Hold) and isinstance(second, Hold)
    refused = ledger.hold("concurrent_checks", "acme", 2)
    assert refused == Refusal("concurrent_checks", "acme", used=2, limit=2, asking=1)
    error = refused.error(retry_after_seconds=1.0)
    assert isinstance(error, QuotaExceeded) and str(error) == (
        "tenant acme has 2 checks in flight, its limit is 2; try again when one has finished"
    )
    (violation,) = error.violations
    assert (violation.subject, violation.quota_id, violation.limit) == (
        "tenant:acme",
        "concurrent_checks",
        2,
    )
    assert isinstance(ledger.hold("concurrent_checks", "globex", 2), Hold)  # its own count
    assert isinstance(ledger.hold("concurrent_trainings", "acme", 2), Hold)  # another quota

    first.release()
    first.release()  # releasing twice gives back one place
    assert ledger.held("concurrent_checks", "acme") == 1
    assert isinstance(ledger.hold("concurrent_checks", "acme", 2), Hold)
    assert isinstance(ledger.hold("concurrent_checks", "acme", 2), Refusal)
    assert isinstance(ledger.hold("concurrent_checks", "acme", None), Hold)  # no limit: counted
    assert ledger.held("concurrent_checks", "acme") == 3


def test_an_unrenewed_hold_lapses_after_its_ttl_and_a_renewed_one_does_not(ledger, clock):
    lapsing = ledger.hold("concurrent_checks", "acme", 2, ttl_s=10)
    renewed = ledger.hold("concurrent_checks", "acme", 2, ttl_s=10)
    clock.now += 8
    assert renewed.renew()
    clock.now += 8  # lapsing is 16 s old, renewed 8 s since its renewal
    assert ledger.held("concurrent_checks", "acme") == 1
    taken = ledger.hold("concurrent_checks", "acme", 2, ttl_s=10)  # the lapsed place
    assert isinstance(taken, Hold)
    assert isinstance(ledger.hold("concurrent_checks", "acme", 2), Refusal)
    assert not lapsing.renew() and lapsing.lost  # once lapsed, it is not brought back
    assert ledger.held("concurrent_checks", "acme") == 2
    lapsing.release()  # its holder ends it late: nothing of the others' is taken away
    assert ledger.held("concurrent_checks", "acme") == 2


def test_a_reservation_counts_with_the_days_charges_and_settles_the_real_amount(ledger):
    first = ledger.reserve("daily_tokens", "acme", DAY, 600, 1000)
    assert isinstance(first, Reservation) and first.day == DAY
    refused = ledger.reserve("daily_tokens", "acme", DAY, 401, 1000)
    assert refused == Refusal("daily_tokens", "acme", used=600, limit=1000, asking=401)
    assert "400 left" in refused.error().violations[0].description
    exact = ledger.reserve("daily_tokens", "acme", DAY, 400, 1000)  # up to the limit itself
    assert isinstance(exact, Reservation)
    first.settle(250)
    first.settle(999)  # settling twice charges once
    exact.release()  # ended without a charge
    assert ledger.used("daily_tokens", "acme", DAY) == 250
    assert ledger.held("daily_tokens", "acme", DAY) == 0
    assert isinstance(ledger.reserve("daily_tokens", "acme", DAY, 750, 1000), Reservation)
    assert isinstance(ledger.reserve("daily_tokens", "acme", DAY, 1, 1000), Refusal)
    assert isinstance(ledger.reserve("daily_tokens", "acme", DAY, 1, None), Reservation)


def test_each_utc_day_has_its_own_quota_and_a_late_settle_charges_its_own_day(ledger, clock):
    assert utc_day(clock()) == DAY
    yesterday = ledger.reserve("gpu_minutes_per_day", "acme", DAY, 4.5, 5)
    assert isinstance(ledger.reserve("gpu_minutes_per_day", "acme", DAY, 1, 5), Refusal)
    today = ledger.reserve("gpu_minutes_per_day", "acme", DAY + 1, 5, 5)  # yesterday's hold
    assert isinstance(today, Reservation)  # does not count on the next day
    yesterday.settle(2.25)
    today.settle(0.5)
    assert ledger.used("gpu_minutes_per_day", "acme", DAY) == 2.25
    assert ledger.used("gpu_minutes_per_day", "acme", DAY + 1) == 0.5
    refused = ledger.reserve("gpu_minutes_per_day", "acme", DAY, 3, 5)
    assert refused.used == 2.25
    assert "2.2 of 5 minutes" in str(refused.error())


def test_several_ledgers_on_one_file_share_the_counts_and_a_clean_close_gives_back(tmp_path, clock):
    path = tmp_path / "shared.db"
    first, second = SqliteLedger(path, clock=clock), SqliteLedger(path, clock=clock)
    first.hold("concurrent_checks", "acme", 2)
    second.reserve("daily_tokens", "acme", DAY, 300, 1000).settle(300)
    second.hold("concurrent_checks", "acme", 2)
    assert isinstance(first.hold("concurrent_checks", "acme", 2), Refusal)
    assert first.used("daily_tokens", "acme", DAY) == 300
    second.close()  # its open hold is given back
    assert first.held("concurrent_checks", "acme") == 1
    first.close()
    again = SqliteLedger(path, clock=clock)
    assert again.held("concurrent_checks", "acme") == 0
    assert again.used("daily_tokens", "acme", DAY) == 300  # charges outlive the processes
    again.close()


def test_threads_racing_on_one_file_never_take_more_than_the_limit(tmp_path):
    path = tmp_path / "race.db"
    ledgers = [SqliteLedger(path) for _ in range(4)]  # four connections to the file
    start = threading.Barrier(16)

    def attack(index: int) -> tuple[int, float]:
        ledger = ledgers[index % 4]
        start.wait(10)
        holds = reserved = 0
        for _ in range(10):
            if isinstance(ledger.hold("concurrent_checks", TENANT, 7), Hold):
                holds += 1
            granted = ledger.reserve("daily_tokens", TENANT, DAY, 3, 100)
            if isinstance(granted, Reservation):
                reserved += 3
                granted.settle(3)
        return holds, reserved

    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(attack, range(16)))
        assert sum(holds for holds, _ in results) == 7
        assert sum(amount for _, amount in results) == 99  # 33 of 3 fit in 100
        assert ledgers[0].held("concurrent_checks", TENANT) == 7
        assert ledgers[0].used("daily_tokens", TENANT, DAY) == 99
    finally:
        for ledger in ledgers:
            ledger.close()


def test_processes_racing_on_one_file_never_take_more_than_the_limit(tmp_path):
    url = f"sqlite:///{tmp_path}/race.db"  # sqlite:////abs/path: SQLAlchemy's absolute form
    holds = run_race(Race(url, "hold", limit=5, tries=12), processes=3)
    assert sum(holds) == 5
    tokens = run_race(Race(url, "reserve", 50, 12, amount=4, settle_every=2), processes=3)
    assert sum(tokens) == 48
    with open_ledger(url) as ledger:  # the racers died with their holds: still counted
        assert ledger.held("concurrent_checks", TENANT) == 5
        charged = ledger.used("daily_tokens", TENANT, DAY)
        assert charged > 0 and charged + ledger.held("daily_tokens", TENANT, DAY) == 48


def test_an_unreachable_ledger_refuses_with_a_typed_error(tmp_path):
    ledger = SqliteLedger(tmp_path)  # a folder: SQLite cannot open it as a database
    with pytest.raises(QuotaLedgerUnavailable, match=r"the quota ledger \(.*\) cannot be"):
        ledger.hold("concurrent_checks", "acme", 2)
    assert issubclass(QuotaLedgerUnavailable, Unavailable)  # UNAVAILABLE on the wire
    ledger.close()


def test_a_settle_during_an_outage_keeps_the_hold_and_lands_later(tmp_path, clock):
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, clock=clock, busy_timeout_s=0.1)
    reservation = ledger.reserve("daily_tokens", "acme", DAY, 500, 1000)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    reservation.settle(120)  # does not raise: retried later
    with pytest.raises(QuotaLedgerUnavailable):
        ledger.hold("concurrent_checks", "acme", 2)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert ledger.held("daily_tokens", "acme", DAY) == 500  # still counted meanwhile
    ledger.renew_all()  # what the renewer thread does every third of a ttl
    assert ledger.held("daily_tokens", "acme", DAY) == 0
    assert ledger.used("daily_tokens", "acme", DAY) == 120
    ledger.close()


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("", "in memory"),
        (":memory:", "in memory"),
        ("sqlite:///", "in memory"),
        ("sqlite:///var/ledger.db", "var/ledger.db"),
        ("sqlite:////srv/ledger.db", "/srv/ledger.db"),
        ("/srv/ledger.db", "/srv/ledger.db"),
        (
            "postgresql://nasforge:secret@db:5432/nasforge",
            "postgresql://nasforge:***@db:5432/nasforge",
        ),
        ("postgres://db/nasforge", "postgres://db/nasforge"),
    ],
)
def test_open_ledger_reads_the_url_as_the_store_does(url, where):
    ledger = open_ledger(url)  # connects on first use, so no database is needed here
    assert ledger.where == where
    ledger.close()


def test_open_ledger_refuses_other_schemes():
    with pytest.raises(ValueError, match="unsupported quota ledger"):
        open_ledger("redis://cache:6379")


def test_holds_are_renewed_in_the_background_while_others_keep_coming():
    """The renewer runs every third of a ttl, even when new holds arrive all the time."""
    ledger = open_ledger("", ttl_s=0.6)
    first = ledger.hold("concurrent_checks", "acme", None)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        ledger.hold("concurrent_checks", "globex", None)
        time.sleep(0.05)
    assert first.renew() and not first.lost  # 2.5 ttls later, still live
    ledger.close()


def first_call(ledger: SqliteLedger, start: threading.Barrier) -> object:
    start.wait(10)
    return ledger.hold("concurrent_checks", "acme", 5)


def test_ledgers_opening_a_new_file_at_the_same_moment_all_get_in(tmp_path):
    """Replicas of one host starting together: switching the file to WAL is retried while
    another holds the lock it needs, instead of failing with "database is locked"."""
    for attempt in range(100):
        ledgers = [SqliteLedger(tmp_path / f"{attempt}.db") for _ in range(3)]
        start = threading.Barrier(3)
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(first_call, ledgers, [start] * 3))
        assert all(isinstance(answer, Hold) for answer in answers)
        for ledger in ledgers:
            ledger.close()
