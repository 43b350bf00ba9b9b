"""Weights recorded on a candidate and served by DownloadWeights: through a real search_core
server and a real trainer server on loopback (tests/support/kept_weights.py), the bytes
match the recorded sha256 and load as the candidate's state_dict; another tenant gets
NOT_FOUND as for GetCandidate; the trainer's retention removed the oldest, and the answer
says so; a candidate that never trained has none."""

import io

import grpc
import pytest
import torch

from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb
from search_core.engine.training_record import code_sha256
from tests.support.kept_weights import (
    CODES,
    DATA,
    FAILED,
    IMAGE,
    kept_weights_search,
    module_weights,
    sha256,
)


@pytest.fixture
async def search(tmp_path):
    async with kept_weights_search(tmp_path) as finished:
        yield finished


async def _candidates(search) -> dict[str, pb.Candidate]:
    """The search's candidates by code, as GetCandidate serves them."""
    found = await search.clients["acme"].candidates(search.search_id)
    return {next(code for code in CODES if c.code == code): c for c in found}


async def _download(client, candidate_id: str) -> list[pb.DownloadWeightsResponse]:
    request = pb.DownloadWeightsRequest(candidate_id=candidate_id)
    return [chunk async for chunk in client.stub.DownloadWeights(request)]


async def _refusal(client, candidate_id: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _download(client, candidate_id)
    return refused.value


async def test_a_trained_candidates_weights_download_and_match(search):
    candidates = await _candidates(search)
    newest = candidates[CODES[3]]
    assert newest.weights.available and newest.weights.epoch == 2
    chunks = await _download(search.clients["acme"], newest.summary.candidate_id)
    data = b"".join(chunk.data for chunk in chunks)
    assert sha256(data) == chunks[0].sha256 == newest.weights.sha256
    assert len(data) == chunks[0].size_bytes == newest.weights.size_bytes
    assert data == module_weights(CODES[3])
    state = torch.load(io.BytesIO(data), weights_only=True)
    assert state["body.weight"].shape == (10, 103)


async def test_the_record_names_how_it_was_trained(search):
    candidates = await _candidates(search)
    provenance = candidates[CODES[2]].provenance
    assert provenance.runtime_image_digest == IMAGE and provenance.dataset_digest == DATA
    assert provenance.dataset_name == "fashion-mnist"
    assert provenance.code_sha256 == code_sha256(CODES[2])
    assert provenance.training_epochs == 2 and provenance.training_seed > 0
    assert not candidates[FAILED].HasField("weights")  # never trained
    assert candidates[FAILED].provenance.code_sha256 == ""


async def test_another_tenant_gets_not_found_as_for_get_candidate(search):
    candidates = await _candidates(search)
    theirs = candidates[CODES[3]].summary.candidate_id
    refused = await _refusal(search.clients["globex"], theirs)
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    assert refused.details() == f"no candidate {theirs!r}"
    with pytest.raises(grpc.aio.AioRpcError) as get:
        await search.clients["globex"].stub.GetCandidate(
            pb.GetCandidateRequest(candidate_id=theirs)
        )
    assert get.value.code() == grpc.StatusCode.NOT_FOUND


async def test_retention_removed_the_oldest_and_the_answer_says_so(search):
    candidates = await _candidates(search)
    oldest = candidates[CODES[0]]
    assert oldest.summary.outcome == common_pb2.OUTCOME_SUCCESS
    assert oldest.weights.sha256  # recorded when it finished; removed since (2 kept)
    refused = await _refusal(search.clients["acme"], oldest.summary.candidate_id)
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    assert "no longer kept" in refused.details()
    assert "removed by the trainer's retention setting" in refused.details()
    assert "weights_retention_count=2" in refused.details()
    kept = [candidates[CODES[2]], candidates[CODES[3]]]
    for candidate in kept:  # the newest two are still there
        chunks = await _download(search.clients["acme"], candidate.summary.candidate_id)
        assert sha256(b"".join(c.data for c in chunks)) == candidate.weights.sha256


async def test_a_candidate_without_weights_and_bad_ids(search):
    candidates = await _candidates(search)
    failed = candidates[FAILED].summary.candidate_id
    refused = await _refusal(search.clients["acme"], failed)
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    assert refused.details() == f"no weights kept for candidate {failed}"
    empty = await _refusal(search.clients["acme"], "")
    assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT
    unknown = await _refusal(search.clients["acme"], "../../weights/x")
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
