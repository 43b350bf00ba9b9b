"""The SQLite store: the shared contract on a file, plus what only SQLite has (WAL, locking)."""

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from search_core.store import StoreError
from search_core.store.sqlite import SqliteStore
from tests.unit.search_core.store.contract import StoreContract
from tests.unit.search_core.store.contract.fixtures import candidate, run_together, search


class TestSqliteContract(StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "folder" / "store.db"


def test_the_file_is_in_wal_mode_and_its_folder_is_created(db_path: Path) -> None:
    with SqliteStore(db_path) as store:
        store.migrate()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("path", ["", ":memory:", "file::memory:?cache=shared"])
def test_an_in_memory_database_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="file path"):
        SqliteStore(path)


def test_a_new_store_on_the_same_file_reads_what_the_first_wrote(db_path: Path) -> None:
    record = search("s1", client_request_id="r")
    first = SqliteStore(db_path)
    version = first.migrate()
    first.create_search(record)
    first.put_candidate(candidate("c1", "s1", 0, code="x = 1"))
    first.append_event("s1", "state_changed", {"state": "running"})
    first.close()

    with SqliteStore(db_path) as second:
        assert second.migrate() == version
        assert second.get_search("t1", "s1") == record
        assert second.get_candidate("t1", "c1").code == "x = 1"
        assert second.append_event("s1", "state_changed", {}).sequence == 2


def test_writers_on_separate_stores_wait_instead_of_failing(db_path: Path) -> None:
    stores = [SqliteStore(db_path, busy_timeout_s=30) for _ in range(4)]
    try:
        stores[0].migrate()
        stores[0].create_search(search("s1"))

        def write(worker: int) -> None:
            for i in range(25):
                slot = worker * 25 + i
                stores[worker % 4].put_candidate(candidate(f"c{slot}", "s1", slot))
                stores[worker % 4].append_event("s1", "k", {"slot": slot})

        run_together(8, write)  # "database is locked" would surface here as StoreError
        assert len(stores[1].search_candidates("s1")) == 200
        assert len(stores[2].events_after("t1", "s1", 0, limit=1000)) == 200
    finally:
        for store in stores:
            store.close()


def test_busy_timeout_waits_for_another_process_holding_the_lock(db_path: Path) -> None:
    with SqliteStore(db_path) as store:
        store.migrate()
        store.create_search(search("s1"))
        other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock for a while
        releaser = threading.Timer(0.5, lambda: other.execute("COMMIT"))
        releaser.start()
        started = time.monotonic()
        try:
            assert store.append_event("s1", "k", {}).sequence == 1
        finally:
            releaser.join()
            other.close()
        assert time.monotonic() - started >= 0.4


def test_foreign_keys_are_enforced(db_path: Path) -> None:
    with SqliteStore(db_path) as store:
        store.migrate()
        with pytest.raises(StoreError, match="FOREIGN KEY"):
            store.put_candidate(candidate("c1", "no-such-search", 0))
