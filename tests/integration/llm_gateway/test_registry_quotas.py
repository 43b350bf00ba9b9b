"""Daily LLM tokens from the tenant registry, kept in a usage database across a restart,
through real gRPC against the canned TGI peer; in process and as `python -m llm_gateway`."""

import asyncio
import json

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc.client import open_channel
from rpc.tenants import Quotas, TenantDirectory, edit_registry
from tests.integration.llm_gateway.conftest import (
    INDEX,
    TOKEN,
    model,
    start_process,
    stop_process,
)
from tests.integration.llm_gateway.tgi_peer import Behaviour

GLOBEX_TOKEN = "tok-gateway-globex"
HELLO = [pb.ChatMessage(role="user", content="hello")]


def request(tokens: int) -> pb.GenerateRequest:
    return pb.GenerateRequest(
        model="peer", messages=HELLO, parameters=pb.GenerationParameters(max_new_tokens=tokens)
    )


@pytest.fixture
def registry_file(tmp_path):
    path = tmp_path / "tenants.json"
    with edit_registry(path) as registry:
        registry.add_tenant("acme", Quotas(llm_tokens_per_day=60))
        registry.add_tenant("globex")
        registry.add_token("acme", token=TOKEN)
        registry.add_token("globex", token=GLOBEX_TOKEN)
    return path


def quota_failure(error: grpc.aio.AioRpcError) -> error_details_pb2.QuotaFailure:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error)
    failure = error_details_pb2.QuotaFailure()
    assert status is not None and any(d.Unpack(failure) for d in status.details)
    return failure


async def test_the_registry_quota_holds_across_a_restart_and_spares_other_tenants(
    serve_gateway, peer, registry_file, tmp_path
):
    peer.behaviour = Behaviour(answer="one two three four")
    directory = TenantDirectory.from_file(registry_file, check_interval_seconds=0)
    settings = {"usage_db": tmp_path / "usage.db", "tenant_limits": {}}
    gateway = await serve_gateway([model("peer", peer.url)], tenants=directory, **settings)
    reply = await gateway.stub.Generate(request(16))
    used = reply.prompt_tokens + reply.generated_tokens
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await gateway.stub.Generate(request(60 - used))
    (violation,) = quota_failure(error.value).violations
    assert (violation.subject, violation.quota_id, violation.quota_value) == (
        "tenant:acme",
        "daily_tokens",
        60,
    )
    async with open_channel(f"127.0.0.1:{gateway.port}", token=GLOBEX_TOKEN) as channel:
        other = pb_grpc.LlmGatewayServiceStub(channel)
        assert (await other.Generate(request(200))).generated_tokens == 4  # default quota

    # A second gateway on the same file: a restart (or a replica sharing the file).
    restarted = await serve_gateway([model("peer", peer.url)], tenants=directory, **settings)
    assert restarted.core.tokens_used_today("acme") == used
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await restarted.stub.Generate(request(60 - used))
    assert quota_failure(error.value).violations[0].quota_id == "daily_tokens"
    assert len(peer.record.requests) == 2  # the refused ones never went upstream

    with edit_registry(registry_file) as registry:  # a raised quota applies at once
        registry.set_quotas("acme", {"llm_tokens_per_day": 10_000})
    assert (await restarted.stub.Generate(request(60))).generated_tokens == 4


async def test_the_service_process_takes_quotas_from_the_registry_and_keeps_usage(
    peer, registry_file, tmp_path
):
    peer.behaviour = Behaviour(answer="one two three four")
    environment = {
        "NASFORGE_GATEWAY_PORT": "0",
        "NASFORGE_GATEWAY_PLAINTEXT": "true",
        "NASFORGE_GATEWAY_AUTH_TOKENS_FILE": str(registry_file),
        "NASFORGE_GATEWAY_NAME_INDEX_PATH": str(INDEX),
        "NASFORGE_GATEWAY_USAGE_DB": str(tmp_path / "usage.db"),
        "NASFORGE_GATEWAY_MODELS": json.dumps(
            [{"name": "peer", "backend": "tgi", "url": peer.url}]
        ),
    }

    async def generate(tokens: int) -> pb.GenerateResponse:
        process, port = await asyncio.to_thread(
            start_process, ["-m", "llm_gateway"], environment, "llm_gateway listening on port"
        )
        try:
            async with open_channel(f"127.0.0.1:{port}", token=TOKEN) as channel:
                return await pb_grpc.LlmGatewayServiceStub(channel).Generate(request(tokens))
        finally:
            assert await asyncio.to_thread(stop_process, process) == 0

    reply = await generate(16)
    used = reply.prompt_tokens + reply.generated_tokens
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await generate(60 - used)  # a fresh process: only the usage file remembers
    (violation,) = quota_failure(error.value).violations
    assert (violation.quota_id, violation.quota_value) == ("daily_tokens", 60)
    assert len(peer.record.requests) == 1
