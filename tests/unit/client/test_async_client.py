"""AsyncSearchClient against a real search_core on loopback: a search from submit to its
leaderboard, errors mapped with the server's message, tenants kept apart, and a watch that
outlives a restart of the server."""

import asyncio

import grpc
import pytest

from nasforge.client import (
    AsyncSearchClient,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
    pb,
    state_name,
)
from tests.support.search_api import CONFIG


def client(api, tenant="acme") -> AsyncSearchClient:
    return AsyncSearchClient(api.target, api.tokens.get(tenant, tenant), tls=None)


async def test_a_search_from_submit_to_leaderboard(api):
    async with client(api) as acme:
        search_id = await acme.submit(CONFIG, client_request_id="run-1")
        assert await acme.submit(CONFIG, client_request_id="run-1") == search_id  # idempotent
        events = [event async for event in acme.watch(search_id)]
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        assert events[-1].state_changed == pb.SEARCH_STATE_SUCCEEDED
        finished = [e.candidate_finished for e in events if e.HasField("candidate_finished")]
        assert len(finished) == 3

        search = await acme.get(search_id)
        assert state_name(search.state) == "succeeded" and search.candidates_evaluated == 3
        assert [s.search_id for s in await acme.list_searches()] == [search_id]
        assert await acme.list_searches(states=("running",)) == []
        assert await acme.list_searches(methods=("fairnad",)) == []

        candidates = await acme.candidates(search_id)
        assert {c.summary.candidate_id for c in candidates} == {f.candidate_id for f in finished}
        assert all("class Net" in c.code and len(c.epochs) == 2 for c in candidates)
        one = await acme.candidate(candidates[0].summary.candidate_id)
        assert one == candidates[0]

        board = await acme.leaderboard(search_id, limit=2)
        assert [entry.rank for entry in board] == [1, 2]
        assert board[0].score == pytest.approx(0.5) and board[0].test_score == pytest.approx(0.25)
        assert "fashion-mnist" in {dataset.name for dataset in await acme.datasets()}
        assert (await acme.dataset("fashion-mnist")).task == "img-classification"


async def test_the_tail_of_a_watch_after_a_sequence(api):
    async with client(api) as acme:
        search_id = await acme.submit(CONFIG)
        everything = [event async for event in acme.watch(search_id)]
        tail = [event async for event in acme.watch(search_id, everything[2].sequence)]
        assert tail == everything[3:]


async def test_errors_are_the_clients_with_the_servers_message(api):
    async with client(api) as acme:
        with pytest.raises(NotFound) as missing:
            await acme.get("s-does-not-exist")
        assert "s-does-not-exist" in missing.value.message
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND  # still a grpc error too
        with pytest.raises(NotFound):
            await acme.candidate("c-nope")
        with pytest.raises(InvalidArgument) as bad:
            await acme.submit({**CONFIG, "max_candidates": 0})
        assert "max_candidates" in bad.value.message
        with pytest.raises(InvalidArgument, match="unknown state 'done'"):
            await acme.list_searches(states=("done",))  # refused before any call
        with pytest.raises(InvalidArgument, match="method must be one of"):
            await acme.submit({"max_candidates": 2})
        with pytest.raises(InvalidArgument) as bad_limit:
            await acme.leaderboard("", limit=500, task="img-classification")
        assert "limit" in bad_limit.value.message
    async with client(api, tenant="not-a-token") as stranger:
        with pytest.raises(Unauthenticated):
            await stranger.list_searches()


async def test_another_tenant_sees_nothing(api):
    async with client(api) as acme, client(api, "rival") as rival:
        search_id = await acme.submit(CONFIG)
        [_ async for _ in acme.watch(search_id)]
        candidate_id = (await acme.candidates(search_id))[0].summary.candidate_id
        assert await rival.list_searches() == []
        for call in (
            rival.get(search_id),
            rival.candidates(search_id),
            rival.candidate(candidate_id),
            rival.leaderboard(search_id),
            rival.cancel(search_id),
        ):
            with pytest.raises(NotFound):
                await call
        with pytest.raises(NotFound):
            [_ async for _ in rival.watch(search_id)]


async def test_pause_resume_cancel(api):
    api.services.train_delay = 60  # still running when controlled
    async with client(api) as acme:
        search_id = await acme.submit(CONFIG)
        await asyncio.wait_for(api.services.training_started.wait(), 10)
        assert await acme.pause(search_id) == "paused"
        assert await acme.resume(search_id) == "queued"
        assert await acme.cancel(search_id) == "cancelled"
        assert state_name((await acme.get(search_id)).state) == "cancelled"


async def test_a_watch_resumes_after_the_server_restarts(api):
    api.services.train_delay = 0.5  # long enough to restart the server mid-search
    async with client(api) as acme:
        search_id = await acme.submit(CONFIG)
        seen = []
        async for event in acme.watch(search_id):
            seen.append(event)
            if len(seen) == 2:
                await api.restart()  # the stream breaks: UNAVAILABLE, then served again
        assert [e.sequence for e in seen] == list(range(1, len(seen) + 1))  # no gap, no repeat
        assert seen[-1].state_changed == pb.SEARCH_STATE_SUCCEEDED


async def test_a_watch_gives_up_when_the_server_stays_away(api):
    api.services.train_delay = 60
    async with client(api) as acme:
        search_id = await acme.submit(CONFIG)
        watch = acme.watch(search_id, reconnect_for_seconds=1.5)
        await anext(watch)
        await api.server.shutdown(0)
        with pytest.raises(Unavailable):
            async for _ in watch:
                pass
