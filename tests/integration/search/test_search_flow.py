"""Full searches through real services: submit, watch to the end, candidates, leaderboard."""

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb
from rpc.tenants import edit_registry
from tests.integration.search.conftest import small_config

pytestmark = pytest.mark.timeout(600)


async def _events(client, search_id, after=0):
    return [
        event
        async for event in client.stub.WatchSearch(
            pb.WatchSearchRequest(search_id=search_id, after_sequence=after), timeout=500
        )
    ]


async def test_fairnad_search_runs_to_the_end_with_scores_and_a_leaderboard(client):
    config = small_config("fairnad", candidates=4, fairnad={"population_size": 2})
    search_id = await client.submit(config)
    events = await _events(client, search_id)
    sequences = [e.sequence for e in events]
    assert sequences == list(range(1, len(events) + 1))
    finished = [e.candidate_finished for e in events if e.HasField("candidate_finished")]
    assert len(finished) == 4
    assert len({f.candidate_id for f in finished}) == 4
    assert events[-1].state_changed == pb.SEARCH_STATE_SUCCEEDED
    assert any(e.HasField("candidate_epoch") for e in events)

    search = (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
    assert search.candidates_evaluated == 4
    assert sum(search.outcome_counts.values()) == 4
    successes = search.outcome_counts.get("success", 0)
    assert successes >= 2, dict(search.outcome_counts)

    board = await client.stub.GetLeaderboard(pb.GetLeaderboardRequest(search_id=search_id))
    scores = [entry.score for entry in board.entries]
    assert len(scores) == successes and scores == sorted(scores, reverse=True)
    # One epoch on 1,024 images: the best of 4 untuned models is well above chance (0.1 on
    # 256 test images, standard deviation 0.02), not necessarily good.
    assert 0.15 < scores[0] <= 1.0
    # Ranked by the trainer's validation score; the held-out test score is shown beside it.
    for entry in board.entries:
        assert entry.score == entry.candidate.scores.validation
        assert entry.test_score == entry.candidate.scores.accuracy
        assert 0.0 <= entry.test_score <= 1.0

    best = board.entries[0].candidate
    candidate = (
        await client.stub.GetCandidate(pb.GetCandidateRequest(candidate_id=best.candidate_id))
    ).candidate
    assert "class Net" in candidate.code and len(candidate.code_md5) == 32
    assert candidate.summary.name.endswith(candidate.code_md5)
    assert candidate.epochs and candidate.hyperparameters
    assert candidate.summary.scores.parameter_count > 0


async def test_pages_and_filters_cover_every_candidate_once(client):
    search_id = await client.submit(small_config("random", candidates=5))
    await _events(client, search_id)
    seen, token = [], ""
    while True:
        page = await client.stub.ListCandidates(
            pb.ListCandidatesRequest(search_id=search_id, page_size=2, page_token=token)
        )
        seen.extend(c.candidate_id for c in page.candidates)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 5
    only_success = await client.stub.ListCandidates(
        pb.ListCandidatesRequest(search_id=search_id, outcomes=[common_pb2.OUTCOME_SUCCESS])
    )
    assert all(c.outcome == common_pb2.OUTCOME_SUCCESS for c in only_success.candidates)


async def test_watch_resumes_after_a_sequence_without_gaps_or_repeats(client):
    search_id = await client.submit(small_config("random", candidates=2))
    everything = await _events(client, search_id)
    tail = await _events(client, search_id, after=everything[2].sequence)
    assert [e.sequence for e in tail] == [e.sequence for e in everything[3:]]


async def test_bad_requests_get_clear_errors_and_the_service_stays_up(client):
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await client.stub.SubmitSearch(pb.SubmitSearchRequest(spec=pb.SearchSpec()))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await client.submit({**small_config(), "max_candidates": 0})
    assert wrong.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_candidates" in wrong.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await client.stub.GetSearch(pb.GetSearchRequest(search_id="s-does-not-exist"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    search_id = await client.submit(small_config(candidates=1))
    assert (await _events(client, search_id))[-1].state_changed == pb.SEARCH_STATE_SUCCEEDED


async def test_submit_is_idempotent_per_client_request_id(client):
    first = await client.submit(small_config(candidates=1), client_request_id="run-42")
    again = await client.submit(small_config(candidates=1), client_request_id="run-42")
    assert first == again
    await _events(client, first)


async def test_cancel_stops_the_search_and_keeps_what_finished(client):
    search_id = await client.submit(small_config("random", candidates=30))
    async for event in client.stub.WatchSearch(pb.WatchSearchRequest(search_id=search_id)):
        if event.HasField("candidate_finished"):
            break
    response = await client.stub.CancelSearch(pb.CancelSearchRequest(search_id=search_id))
    assert response.state == pb.SEARCH_STATE_CANCELLED
    search = (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
    assert search.state == pb.SEARCH_STATE_CANCELLED
    assert 1 <= search.candidates_evaluated < 30


async def test_a_submit_over_the_running_searches_quota_is_refused_until_one_ends(stack, client):
    with edit_registry(stack.directory / "tokens.json") as registry:
        registry.set_quotas(stack.tenant, {"running_searches": 1})
    await asyncio.sleep(1.5)  # search_core looks at the registry file once a second
    running = await client.submit(small_config("random", candidates=30), client_request_id="a")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.submit(small_config(candidates=1), client_request_id="b")
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    failure = error_details_pb2.QuotaFailure()
    status = rpc_status.from_call(refused.value)
    assert status is not None and status.details[0].Unpack(failure)
    assert [(v.quota_id, v.quota_value) for v in failure.violations] == [("running_searches", 1)]
    assert await client.submit(small_config(candidates=30), client_request_id="a") == running
    await client.stub.CancelSearch(pb.CancelSearchRequest(search_id=running))
    search_id = await client.submit(small_config(candidates=1), client_request_id="b")
    assert (await _events(client, search_id))[-1].state_changed == pb.SEARCH_STATE_SUCCEEDED
