"""One tenant floods search_core while another runs a small search, on a running LocalStack.

Tenant A ("flood-a", quota: 2 running searches) starts searches with large budgets up to
its quota and keeps submitting more, at once and in a burst. Expected ending: each submit
over the quota is refused with RESOURCE_EXHAUSTED carrying a google.rpc.QuotaFailure for
running_searches (and never creates a search), and tenant B's small search, submitted during
the flood, ends SUCCEEDED with every candidate. The latency ratio is measured by the
benchmark (bench/tenant_flood.py), not asserted here.
"""

import asyncio
import json

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from nasforge.search_core.v1 import search_core_pb2 as pb
from tests.security.conftest import (
    add_tenant,
    small_config,
    stack_channel,
    stub,
    until_code,
    watch_to_end,
)

pytestmark = pytest.mark.timeout(420)

QUOTA = 2
B_CANDIDATES = 3


def _submit(candidates: int, key: str = "") -> pb.SubmitSearchRequest:
    config = json.dumps(small_config(candidates=candidates))
    return pb.SubmitSearchRequest(
        spec=pb.SearchSpec(method=pb.SEARCH_METHOD_RANDOM, config_json=config),
        client_request_id=key,
    )


def _quota_violation(error: grpc.aio.AioRpcError) -> error_details_pb2.QuotaFailure.Violation:
    status = rpc_status.from_call(error)
    assert status is not None, error
    failures = [d for d in status.details if d.Is(error_details_pb2.QuotaFailure.DESCRIPTOR)]
    assert len(failures) == 1, status
    quota = error_details_pb2.QuotaFailure()
    failures[0].Unpack(quota)
    (violation,) = quota.violations
    return violation


async def test_small_search_completes_while_another_tenant_floods(stack):
    """A fills its running-searches quota with 200-candidate searches, then submits 6 more
    at once -> every extra submit is RESOURCE_EXHAUSTED with a QuotaFailure (subject
    tenant:flood-a, running_searches, its value 2) and A still has exactly 2 searches;
    B's 3-candidate search submitted meanwhile -> SUCCEEDED with 3 candidates."""
    _, a_token = add_tenant(stack, "flood-a", f"running_searches={QUOTA}")
    _, b_token = add_tenant(stack, "flood-b")
    a_channel, b_channel = stack_channel(stack, a_token), stack_channel(stack, b_token)
    a, b = stub(a_channel), stub(b_channel)
    flood: list[str] = []
    try:
        board = pb.GetLeaderboardRequest(task="img-classification")
        for client_stub in (a, b):
            await until_code(lambda s=client_stub: s.GetLeaderboard(board), None)
        for n in range(QUOTA):
            flood.append((await a.SubmitSearch(_submit(200, f"flood-{n}"))).search_id)

        results = await asyncio.gather(
            *(a.SubmitSearch(_submit(200, f"extra-{n}")) for n in range(6)),
            return_exceptions=True,
        )
        for result in results:
            assert isinstance(result, grpc.aio.AioRpcError), result
            assert result.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, result
            violation = _quota_violation(result)
            assert violation.subject == "tenant:flood-a"
            assert violation.quota_id == "running_searches"
            assert violation.quota_value == QUOTA
        # A retried accepted submit answers as the first time did, quota or not.
        assert (await a.SubmitSearch(_submit(200, "flood-0"))).search_id == flood[0]

        b_search = (await b.SubmitSearch(_submit(B_CANDIDATES))).search_id
        events = await watch_to_end(b, b_search, deadline_seconds=380)
        assert events[-1].state_changed == pb.SEARCH_STATE_SUCCEEDED, events[-1]
        finished = [e.candidate_finished for e in events if e.HasField("candidate_finished")]
        assert len(finished) == B_CANDIDATES
        search = (await b.GetSearch(pb.GetSearchRequest(search_id=b_search))).search
        assert search.candidates_evaluated == B_CANDIDATES

        for search_id in flood:  # A's flood ran all along
            state = (await a.GetSearch(pb.GetSearchRequest(search_id=search_id))).search.state
            assert state in (pb.SEARCH_STATE_QUEUED, pb.SEARCH_STATE_RUNNING), state
    finally:
        for search_id in flood:
            await a.CancelSearch(pb.CancelSearchRequest(search_id=search_id))
        await a_channel.close()
        await b_channel.close()
