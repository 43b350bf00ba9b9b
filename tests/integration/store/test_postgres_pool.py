"""The PostgreSQL store off the event loop: a slow call lets the loop run, the connection pool
is bounded, and a server that goes away answers StoreUnavailable until it is back."""

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import psycopg
import pytest

from search_core.store import StoreUnavailable, open_store
from search_core.store.async_store import AsyncStore
from search_core.store.postgres import PostgresStore
from tests.support.postgres import PostgresServer
from tests.unit.search_core.store.contract.fixtures import search

TEST_CLIENT = "nasforge-test"  # the application_name of the tests' own connections


@contextmanager
def search_row_locked(url: str, search_id: str) -> Iterator[psycopg.Connection]:
    """Another client holding the search's row: the store's writes to it wait until the
    block ends (or the connection it yields commits)."""
    with psycopg.connect(url, application_name=TEST_CLIENT) as holder:
        holder.execute("SELECT 1 FROM searches WHERE search_id = %s FOR UPDATE", (search_id,))
        yield holder


def server_connections(url: str) -> int:
    """The store's connections to its database, as the server counts them."""
    with psycopg.connect(url, autocommit=True, application_name=TEST_CLIENT) as admin:
        (count,) = admin.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND application_name <> %s",
            (TEST_CLIENT,),
        ).fetchone()
    return int(count)


@asynccontextmanager
async def ticking() -> AsyncIterator[list[float]]:
    """A task that notes the time every 10 ms while the block runs."""
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        yield ticks
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)


async def wait_on_locked_row(url: str, calls: list[Callable[[], Awaitable[Any]]]) -> float:
    """Run `calls` while the row of search s1 is locked, release it after a second; the
    seconds they took."""
    started = time.monotonic()
    with search_row_locked(url, "s1") as holder:
        pending = asyncio.gather(*(call() for call in calls))
        await asyncio.sleep(1.0)
        assert not pending.done()
        holder.commit()
        await pending
    return time.monotonic() - started


async def test_the_event_loop_keeps_running_while_a_call_waits_on_the_database(
    postgres_url: str,
) -> None:
    async with AsyncStore(open_store(postgres_url)) as store:
        await store.create_search(search("s1"))
        async with ticking() as ticks:
            took = await wait_on_locked_row(
                postgres_url, [lambda: store.append_event("s1", "state_changed", {})]
            )
            during = [t for t in ticks if t <= ticks[0] + took]
        assert took >= 1.0
        assert len(during) >= 50  # a blocked loop would have ticked once or twice
        assert max(b - a for a, b in itertools.pairwise(during)) < 0.5
        assert [e.sequence for e in await store.events_after("t1", "s1", 0)] == [1]


async def test_calls_beyond_the_pool_wait_for_a_connection_and_all_complete(
    postgres_url: str,
) -> None:
    async with AsyncStore(open_store(postgres_url, pool_size=3)) as store:
        assert store.workers == 3
        await store.create_search(search("s1"))
        seen: list[int] = []

        async def watch_connections() -> None:
            while True:
                seen.append(await asyncio.to_thread(server_connections, postgres_url))
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch_connections())
        try:
            calls = [
                lambda i=i: store.append_event("s1", "candidate_epoch", {"i": i}) for i in range(12)
            ]
            await wait_on_locked_row(postgres_url, calls)
        finally:
            watcher.cancel()
        events = await store.events_after("t1", "s1", 0)
    assert sorted(e.payload["i"] for e in events) == list(range(12))
    assert [e.sequence for e in events] == list(range(1, 13))
    assert max(seen) == 3  # all in use while the row was locked, never more


def test_threads_beyond_the_pool_wait_for_a_connection(postgres_url: str) -> None:
    """The pool itself is the bound, whoever calls (here 8 threads, no AsyncStore)."""
    with open_store(postgres_url, pool_size=2, timeout_s=30) as store:
        store.create_search(search("s1"))
        with search_row_locked(postgres_url, "s1") as holder, ThreadPoolExecutor(8) as threads:
            calls = [threads.submit(store.append_event, "s1", "x", {"i": i}) for i in range(8)]
            time.sleep(1.0)
            assert not any(call.done() for call in calls)
            assert server_connections(postgres_url) == 2
            holder.commit()
            sequences = sorted(call.result(timeout=30).sequence for call in calls)
        assert sequences == list(range(1, 9))


async def test_a_stopped_server_is_unavailable_and_the_same_store_works_once_it_is_back(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    async with AsyncStore(open_store(postgres_url, pool_size=4, timeout_s=2)) as store:
        await store.create_search(search("s1"))
        # The test server commits asynchronously and stops in immediate mode: without a
        # checkpoint, the last commits (even the tables) would not survive the restart.
        with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
            admin.execute("CHECKPOINT")
        postgres_server.stop()
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await store.get_search("t1", "s1")
            assert time.monotonic() - started < 10
            with pytest.raises(StoreUnavailable):
                await store.append_event("s1", "state_changed", {})
        finally:
            postgres_server.start()
        assert (await store.get_search("t1", "s1")) is not None
        assert (await store.append_event("s1", "state_changed", {})).sequence == 1


def test_a_server_that_is_not_there_is_unavailable() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/postgres", timeout_s=1)
    try:
        with pytest.raises(StoreUnavailable, match="within 1 s"):
            store.list_tenants()
    finally:
        store.close()
