"""`nasforge reproduce` through real services: a trained template candidate retrained from its
record in a fresh training container (CPU, same seed) gives the same figures to the last
digit, and another tenant's candidate is NOT_FOUND."""

import asyncio

import grpc
import pytest

from cli.main import main
from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from rpc.client import open_channel
from tests.integration.search.conftest import small_config

pytestmark = pytest.mark.timeout(900)

RELOAD_SECONDS = 5.0  # how soon search_core sees a tenant added to its registry


async def _finished_candidates(stub, search_id):
    async for _ in stub.WatchSearch(pb.WatchSearchRequest(search_id=search_id), timeout=800):
        pass
    page = await stub.ListCandidates(pb.ListCandidatesRequest(search_id=search_id))
    return [
        (await stub.GetCandidate(pb.GetCandidateRequest(candidate_id=c.candidate_id))).candidate
        for c in page.candidates
    ]


async def test_a_trained_candidate_reproduces_exactly_and_only_for_its_tenant(
    stack, client, tmp_path
):
    # One epoch on 256 images: the smallest training whose figures mean something.
    config = small_config("random", candidates=1, train_samples=256, test_samples=128)
    search_id = await client.submit(config)
    (original,) = await _finished_candidates(client.stub, search_id)
    assert original.summary.outcome == 1, original.error  # OUTCOME_SUCCESS
    record = original.provenance
    assert record.code_sha256 and record.training_seed == config["seed"]
    assert record.runtime_image_digest and record.dataset_digest

    token_file = tmp_path / "acme.token"
    token_file.write_text(stack.tenant_token)
    arguments = ["--target", stack.target("search_core"), "--token-file", str(token_file)]
    tls = stack.public_tls
    arguments += ["--plaintext"] if tls is None else ["--ca-file", str(tls.ca_file)]
    status = await asyncio.to_thread(main, ["reproduce", original.summary.candidate_id, *arguments])
    assert status == 0  # every figure within 1e-6; the check below asks for equality

    searches = await client.stub.ListSearches(pb.ListSearchesRequest())
    reproduction = searches.searches[0]
    assert reproduction.spec.method == pb.SEARCH_METHOD_REPRODUCE
    (copy,) = await _finished_candidates(client.stub, reproduction.search_id)
    assert copy.code == original.code
    assert [(e.train_loss, e.validation_metric) for e in copy.epochs] == [
        (e.train_loss, e.validation_metric) for e in original.epochs
    ]
    assert copy.summary.scores.validation == original.summary.scores.validation
    assert copy.summary.scores.accuracy == original.summary.scores.accuracy
    assert copy.provenance.runtime_image_digest == record.runtime_image_digest
    assert copy.provenance.dataset_digest == record.dataset_digest

    _, rival_token = stack.add_tenant("rival")
    await asyncio.sleep(RELOAD_SECONDS * 2)
    channel = open_channel(stack.target("search_core"), token=rival_token, tls=stack.public_tls)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.SearchServiceStub(channel).ReproduceCandidate(
                pb.ReproduceCandidateRequest(candidate_id=original.summary.candidate_id)
            )
    finally:
        await channel.close()
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
