"""Search leases with real processes: search_core replicas on one real PostgreSQL.

A SIGKILLed owner's search is taken over by another replica and finishes with nothing lost
or doubled; cancel, pause and watch work through a replica that does not run the search;
concurrent submits at a tenant's quota, spread over three replicas, never exceed it; a
PostgreSQL that goes away stops the searches (UNAVAILABLE, naming the store) and they go on
when it is back.
"""

import asyncio
import json
import time

import grpc
import pytest

from nasforge.search_core.v1 import search_core_pb2 as pb
from tests.integration.replicas.conftest import (
    LEASE_SECONDS,
    search_clients,
    wait_until_ended,
)
from tests.support.searches import template_search

pytestmark = pytest.mark.timeout(900)


async def _search(client, search_id: str) -> pb.Search:
    return (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search


async def _until(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f}s: {what}")
        await asyncio.sleep(0.3)


async def _events(client, search_id: str) -> list[pb.WatchSearchResponse]:
    stream = client.stub.WatchSearch(pb.WatchSearchRequest(search_id=search_id))
    return [response async for response in stream]


def _finished(events: list[pb.WatchSearchResponse]) -> list[str]:
    return [e.candidate_finished.candidate_id for e in events if e.HasField("candidate_finished")]


async def test_a_killed_owners_search_is_taken_over_with_nothing_lost_or_doubled(two_replicas):
    stack = two_replicas
    config = template_search(candidates=6, epochs=1, train_samples=512, seed=21)
    async with search_clients(stack) as (first, second):
        search_id = await first.submit(config)  # the replica that takes a submit runs it

        async def some_finished():
            return (await _search(second, search_id)).candidates_evaluated >= 2

        await _until(some_finished, 300, "two candidates finished")
        stack.kill("search_core")
        killed_at = time.monotonic()

        async def running_again():
            search = await _search(second, search_id)
            return search.candidates_evaluated >= 3 or search.state == pb.SEARCH_STATE_SUCCEEDED

        await _until(running_again, 300, "the search went on")
        ended = await wait_until_ended(second, search_id)
        assert ended.state == pb.SEARCH_STATE_SUCCEEDED, ended
        assert ended.candidates_evaluated == 6
        events = await _events(second, search_id)
        finished = _finished(events)
        assert len(finished) == len(set(finished)) == 6  # none lost, none twice
        sequences = [e.sequence for e in events]
        assert sequences == list(range(1, len(sequences) + 1))
    records = [
        json.loads(line) for line in (stack.directory / "audit.log").read_text().splitlines()
    ]
    takeovers = [r for r in records if r["event"] == "search_taken_over"]
    assert len(takeovers) == 1 and takeovers[0]["search_id"] == search_id
    assert takeovers[0]["previous_replica"] != takeovers[0]["replica"]
    # Taken over within the lease and a renewal round (plus the time to go on), not later.
    assert time.monotonic() - killed_at < 300


async def test_cancel_pause_and_watch_through_the_replica_that_does_not_run_it(two_replicas):
    config = template_search(candidates=8, epochs=1, train_samples=512, seed=31)
    async with search_clients(two_replicas) as (first, second):
        search_id = await first.submit(config)
        watched = asyncio.create_task(_events(second, search_id))

        async def started():
            return (await _search(second, search_id)).state == pb.SEARCH_STATE_RUNNING

        await _until(started, 120, "running")
        paused = await second.stub.PauseSearch(pb.PauseSearchRequest(search_id=search_id))
        assert paused.state == pb.SEARCH_STATE_PAUSED
        await asyncio.sleep(LEASE_SECONDS)  # nobody takes a paused search over
        assert (await _search(first, search_id)).state == pb.SEARCH_STATE_PAUSED
        resumed = await second.stub.ResumeSearch(pb.ResumeSearchRequest(search_id=search_id))
        assert resumed.state == pb.SEARCH_STATE_QUEUED
        await _until(started, 120, "running again")
        cancelled = await second.stub.CancelSearch(pb.CancelSearchRequest(search_id=search_id))
        assert cancelled.state == pb.SEARCH_STATE_CANCELLED
        assert (await _search(first, search_id)).state == pb.SEARCH_STATE_CANCELLED
        events = await asyncio.wait_for(watched, 60)  # the stream ends with the search
        states = [
            pb.SearchState.Name(e.state_changed) for e in events if e.HasField("state_changed")
        ]
        assert "SEARCH_STATE_PAUSED" in states and states[-1] == "SEARCH_STATE_CANCELLED"


async def test_concurrent_submits_over_three_replicas_never_exceed_the_quota(three_replicas):
    stack = three_replicas
    _tenant, token = stack.add_tenant("capped", "running_searches=2")
    config = template_search(candidates=1, epochs=0, seed=41)
    async with search_clients(stack, token=token) as clients:
        outcomes = await asyncio.gather(
            *(clients[n % 3].submit(config) for n in range(12)), return_exceptions=True
        )
    accepted = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if not isinstance(o, str)]
    assert len(accepted) == 2, outcomes
    assert all(
        isinstance(o, grpc.aio.AioRpcError) and o.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for o in refused
    ), refused


async def test_a_store_outage_stops_searches_and_they_go_on_when_it_is_back(
    two_replicas, postgres_server
):
    config = template_search(candidates=5, epochs=1, train_samples=512, seed=51)
    async with search_clients(two_replicas) as (first, second):
        search_id = await first.submit(config)

        async def one_finished():
            return (await _search(first, search_id)).candidates_evaluated >= 1

        await _until(one_finished, 300, "a candidate finished")
        postgres_server.stop()
        try:
            await asyncio.sleep(LEASE_SECONDS)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _search(second, search_id)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "store" in refused.value.details()
        finally:
            postgres_server.start()
        ended = await wait_until_ended(first, search_id)
        assert ended.state == pb.SEARCH_STATE_SUCCEEDED, ended
        assert ended.candidates_evaluated == 5
        events = await _events(second, search_id)
        finished = _finished(events)
        assert len(finished) == len(set(finished)) == 5
