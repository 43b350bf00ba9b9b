"""Kill search_core mid-search: it resumes and evaluates no candidate twice. A dead trainer
pauses the search instead of failing its candidates."""

import asyncio

import pytest

from nasforge.search_core.v1 import search_core_pb2 as pb
from search_core.store import open_store
from tests.integration.search.conftest import small_config

pytestmark = pytest.mark.timeout(900)


async def _wait_for_finished(client, search_id, count):
    seen = 0
    async for event in client.stub.WatchSearch(
        pb.WatchSearchRequest(search_id=search_id), timeout=600
    ):
        seen += event.HasField("candidate_finished")
        if seen >= count:
            return


async def test_a_killed_search_core_resumes_and_evaluates_nothing_twice(stack, client):
    search_id = await client.submit(small_config("regularized_evolution", candidates=6))
    await _wait_for_finished(client, search_id, 2)
    stack.kill("search_core")
    stack.restart("search_core")
    from cli.search_client import SearchClient

    async with SearchClient(
        stack.target("search_core"), stack.tenant_token, tls=stack.public_tls
    ) as again:
        state = None
        async for event in again.stub.WatchSearch(
            pb.WatchSearchRequest(search_id=search_id), timeout=600
        ):
            if event.HasField("state_changed"):
                state = event.state_changed
        assert state == pb.SEARCH_STATE_SUCCEEDED
    store = open_store(str(stack.directory / "nasforge.db"))
    try:
        candidates = store.search_candidates(search_id)
        finished_events = [
            e.payload["candidate_id"]
            for e in store.events_after("acme", search_id, 0, 10_000)
            if e.kind == "candidate_finished"
        ]
    finally:
        store.close()
    assert sorted(c.slot for c in candidates) == list(range(6))
    assert all(c.is_done for c in candidates)
    assert len(finished_events) == len(set(finished_events)) == 6


async def test_a_dead_trainer_pauses_the_search_which_finishes_after_it_returns(stack, client):
    stack.kill("trainer_svc")
    search_id = await client.submit(small_config("random", candidates=2))
    for _ in range(120):
        search = (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
        if search.state == pb.SEARCH_STATE_PAUSED:
            break
        await asyncio.sleep(1)
    assert search.state == pb.SEARCH_STATE_PAUSED
    assert "trainer_svc" in search.status_message
    assert search.candidates_evaluated == 0  # nothing failed for the trainer's absence
    stack.restart("trainer_svc")
    await _wait_for_finished(client, search_id, 2)
    search = (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
    assert search.outcome_counts.get("infra_error", 0) == 0
