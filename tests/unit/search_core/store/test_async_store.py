"""AsyncStore: every Store method as a coroutine run off the event loop (here on SQLite; the
PostgreSQL pool is tested in tests/integration/store/test_postgres_pool.py)."""

import asyncio
import inspect
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from search_core.store import Store, StoreError, StoreUnavailable, open_store
from search_core.store.async_store import AsyncStore
from search_core.store.sqlite import SqliteStore
from tests.unit.search_core.store.contract.fixtures import candidate, search


def _store_methods() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(Store).items()
        if inspect.isfunction(member) and not name.startswith("_") and name != "close"
    }


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncStore]:
    async with AsyncStore(open_store(str(tmp_path / "store.db"))) as opened:
        yield opened


def test_every_store_method_has_its_coroutine_with_the_same_parameters() -> None:
    for name, expected in _store_methods().items():
        method = getattr(AsyncStore, name, None)
        assert method is not None, f"AsyncStore lacks {name}: add its one-line coroutine"
        assert inspect.iscoroutinefunction(method), name
        assert inspect.signature(method).parameters == expected.parameters, name


async def test_a_sqlite_store_gets_one_worker_and_answers_as_the_store_does(
    store: AsyncStore,
) -> None:
    assert store.workers == 1
    created, new = await store.create_search(search("s1", client_request_id="r"))
    assert new and (await store.get_search("t1", "s1")) == created
    await store.put_candidate(candidate("c1", "s1", 0, code="x = 1"))
    assert (await store.get_candidate("t1", "c1")).code == "x = 1"
    assert [c.candidate_id for c in await store.search_candidates("s1")] == ["c1"]
    assert (await store.list_candidates("t1", "s1")).items == []
    assert await store.list_searches("t1") == [created]


async def test_concurrent_calls_all_run_one_at_a_time(store: AsyncStore) -> None:
    await store.create_search(search("s1"))
    events = await asyncio.gather(
        *(store.append_event("s1", "candidate_epoch", {"i": i}) for i in range(20))
    )
    assert sorted(event.sequence for event in events) == list(range(1, 21))


async def test_the_stores_errors_reach_the_awaiting_caller(store: AsyncStore) -> None:
    with pytest.raises(StoreError, match="no search"):
        await store.append_event("missing", "state_changed", {})
    await store.create_search(search("s1"))
    with pytest.raises(ValueError, match="page token"):
        await store.list_candidates("t1", "s1", page_token="not-a-token")


async def test_the_event_loop_runs_while_a_write_waits_for_the_database(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with AsyncStore(open_store(str(path))) as store:
        await store.create_search(search("s1"))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        write = asyncio.create_task(store.append_event("s1", "state_changed", {}))
        await asyncio.sleep(0.5)
        assert not write.done()
        other.execute("COMMIT")
        other.close()
        assert (await write).sequence == 1
        ticker.cancel()
    assert time.monotonic() - started >= 0.5
    assert ticks >= 25  # a blocked loop would not have ticked while the write waited


async def test_close_closes_the_store_and_later_calls_fail(tmp_path: Path) -> None:
    sync = open_store(str(tmp_path / "store.db"))
    store = AsyncStore(sync)
    await store.create_search(search("s1"))
    await store.close()
    await store.close()  # twice is harmless
    with pytest.raises(StoreError, match="closed"):
        await store.get_search("t1", "s1")
    with pytest.raises(StoreError, match="closed"):
        sync.get_search("t1", "s1")


async def test_workers_may_be_given_and_must_be_positive(tmp_path: Path) -> None:
    sync = open_store(str(tmp_path / "store.db"))
    async with AsyncStore(sync, workers=3) as store:
        assert store.workers == 3
    with pytest.raises(ValueError, match="at least one worker"):
        AsyncStore(sync, workers=0)


def test_a_database_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.db"
    folder.mkdir()  # not a file SQLite can open
    with SqliteStore(folder) as store, pytest.raises(StoreUnavailable, match="cannot open"):
        store.migrate()
