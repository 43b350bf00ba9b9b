"""SandboxService over a real gRPC server, with a real checker and real containers."""

import json

import grpc
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from nasforge.common.v1 import common_pb2
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2 as pb
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2_grpc as pb_grpc
from netapi.code_policy import load_policy
from rpc.auth import hash_token
from rpc.client import open_channel
from rpc.server import start_server
from sandbox_runner.core import SandboxChecker
from sandbox_runner.metrics import SandboxMetrics
from sandbox_runner.server import sandbox_binding
from tests.integration.sandbox.conftest import GOOD_CLASSIFIER, corpus

TOKEN = "tok-sandbox-test"


@pytest.fixture
async def stub(settings, launcher, tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{"sha256": hash_token(TOKEN), "tenant": "acme"}]}))
    registry = CollectorRegistry()
    checker = SandboxChecker(settings, launcher, load_policy(settings), SandboxMetrics(registry))
    await checker.start()
    server_settings = settings.model_copy(update={"auth_tokens_file": tokens})
    running = await start_server([sandbox_binding(checker)], server_settings, registry=registry)
    channel = open_channel(f"127.0.0.1:{running.port}", token=TOKEN, default_timeout_seconds=60)
    yield pb_grpc.SandboxServiceStub(channel), registry, running.port
    await channel.close()
    await running.shutdown(1)
    await checker.close()
    assert launcher.leftovers(expired_only=False) == []


def request(code, task="img-classification", **fields):
    return pb.CheckCandidateRequest(code=code, task=common_pb2.TaskSpec(task=task), **fields)


async def test_good_candidate_succeeds_with_scores(stub):
    service, registry, _ = stub
    reply = await service.CheckCandidate(request(corpus(GOOD_CLASSIFIER), candidate_id="c-1"))
    assert reply.outcome == common_pb2.OUTCOME_SUCCESS
    assert reply.scores.parameter_count > 0 and reply.scores.flops > 0
    assert list(reply.output_shape) == [2, 10]
    first = reply.shape_trace[0]
    assert first.type == "Conv2d" and list(first.input_shapes[0].dims) == [2, 3, 32, 32]
    assert reply.stage_durations_ms["learn"] > 0
    metrics = generate_latest(registry).decode()
    assert 'nasforge_sandbox_checks_total{mode="cold",outcome="success"} 1.0' in metrics


async def test_failing_candidate_is_an_ok_response_with_its_outcome(stub):
    service, _, _ = stub
    reply = await service.CheckCandidate(request(corpus("24_unknown_module_einops")))
    assert reply.outcome == common_pb2.OUTCOME_HALLUCINATED_API
    assert reply.stage == common_pb2.STAGE_STATIC
    assert reply.findings[0].rule == "unknown-module"
    assert "einops" in reply.error.message


@pytest.mark.parametrize(
    ("req", "fragment"),
    [
        (request(""), "code is empty"),
        (request("x = 1", task="img-detection"), "unknown task"),
        (pb.CheckCandidateRequest(code="x = 1"), "unknown task"),
        (request("x = 1", timeout_ms=-1), "must not be negative"),
        (request("x = 1", timeout_ms=10_000_000), "over the maximum"),
        (
            pb.CheckCandidateRequest(
                code="x = 1",
                task=common_pb2.TaskSpec(task="img-classification", in_shape=[2, 3, 32]),
            ),
            "4 dimensions",
        ),
        (request("x = 1", candidate_id="c" * 500), "candidate_id"),
        (request("# " + "x" * 300_000), "over 262144 bytes"),
    ],
)
async def test_malformed_requests_are_invalid_argument(stub, req, fragment):
    service, _, _ = stub
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await service.CheckCandidate(req)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in error.value.details()


async def test_requires_a_token(stub):
    _, _, port = stub
    async with open_channel(f"127.0.0.1:{port}", token=None) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await pb_grpc.SandboxServiceStub(channel).CheckCandidate(request("x = 1"))
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
