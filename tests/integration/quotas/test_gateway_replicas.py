"""Two real gateway replicas (`python -m llm_gateway`) on one PostgreSQL quota ledger, in front
of one canned TGI peer: a burst of Generate requests of one tenant, split between them, never
gets more than the tenant's daily tokens granted, held or charged."""

import asyncio
import json
import re
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc.client import open_channel
from rpc.quota_ledger import open_ledger, utc_day
from rpc.tenants import Quotas, edit_registry
from tests.integration.llm_gateway.conftest import INDEX, start_process, stop_process
from tests.integration.llm_gateway.tgi_peer import Behaviour, TgiPeer

TOKEN = "tok-quota-replicas-mallory"
DAILY_TOKENS = 240
NEW_TOKENS = 30  # the peer answers with exactly this many tokens: charged ~ the worst case
BURST = 24


@pytest.fixture
async def peer():
    # Slow to answer, so that every request of the burst is admitted while the others are
    # still held: the replicas must count each other's holds, not only charged tokens.
    instance = TgiPeer(
        Behaviour(answer=" ".join(f"w{n}" for n in range(100)), first_token_delay=2.0)
    )
    await instance.start()
    yield instance
    await instance.stop()


@pytest.fixture
async def replicas(peer, postgres_url, tmp_path):
    """Two gateway processes on one ledger: their ports."""
    registry = tmp_path / "tenants.json"
    with edit_registry(registry) as entries:
        entries.add_tenant("mallory", Quotas(llm_tokens_per_day=DAILY_TOKENS))
        entries.add_token("mallory", token=TOKEN)
    environment = {
        "NASFORGE_GATEWAY_PORT": "0",
        "NASFORGE_GATEWAY_PLAINTEXT": "true",
        "NASFORGE_GATEWAY_AUTH_TOKENS_FILE": str(registry),
        "NASFORGE_GATEWAY_NAME_INDEX_PATH": str(INDEX),
        "NASFORGE_GATEWAY_MODELS": json.dumps(
            [{"name": "peer", "backend": "tgi", "url": peer.url, "max_concurrent_requests": 64}]
        ),
        # Only the daily tokens are under attack here, not the (per process) request rate.
        "NASFORGE_GATEWAY_DEFAULT_LIMITS": json.dumps({"requests_per_second": 1000, "burst": 1000}),
        "NASFORGE_QUOTA_LEDGER": postgres_url,
    }
    started = []
    try:
        for _ in range(2):
            started.append(
                await asyncio.to_thread(
                    start_process,
                    ["-m", "llm_gateway"],
                    environment,
                    "llm_gateway listening on port",
                )
            )
        yield [port for _, port in started]
    finally:
        for process, _ in started:
            assert await asyncio.to_thread(stop_process, process) == 0


def request() -> pb.GenerateRequest:
    return pb.GenerateRequest(
        model="peer",
        messages=[pb.ChatMessage(role="user", content="A tiny model, please.")],
        parameters=pb.GenerationParameters(max_new_tokens=NEW_TOKENS),
    )


async def test_two_replicas_never_grant_more_than_the_daily_tokens(replicas, postgres_url):
    channels = [open_channel(f"127.0.0.1:{port}", token=TOKEN) for port in replicas]
    stubs = [pb_grpc.LlmGatewayServiceStub(channel) for channel in channels]

    async def generate(index: int):
        try:
            return await stubs[index % 2].Generate(request(), timeout=60)
        except grpc.aio.AioRpcError as refused:
            return refused

    try:
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        results = await asyncio.gather(*(generate(i) for i in range(BURST)))
    finally:
        for channel in channels:
            await channel.close()

    answers = [r for r in results if isinstance(r, pb.GenerateResponse)]
    refusals = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert answers and refusals, [getattr(r, "code", lambda: "OK")() for r in results]
    worst_case = None
    for refused in refusals:
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.details()
        failure = error_details_pb2.QuotaFailure()
        status = rpc_status.from_call(refused)
        assert [d.Unpack(failure) for d in status.details if d.Is(failure.DESCRIPTOR)] == [True]
        (violation,) = failure.violations
        assert (violation.subject, violation.quota_id, violation.quota_value) == (
            "tenant:mallory",
            "daily_tokens",
            DAILY_TOKENS,
        )
        worst_case = int(re.search(r"may need (\d+)", refused.details()).group(1))

    # Every request was admitted while the others were held: exactly as many as fit.
    assert len(answers) == DAILY_TOKENS // worst_case, (len(answers), worst_case)
    charged = sum(answer.prompt_tokens + answer.generated_tokens for answer in answers)
    assert all(answer.generated_tokens == NEW_TOKENS for answer in answers)
    assert charged <= DAILY_TOKENS
    with open_ledger(postgres_url) as ledger:  # what both replicas charged, in one place
        today = utc_day(time.time())
        assert ledger.used("daily_tokens", "mallory", today) == charged
        assert ledger.held("daily_tokens", "mallory", today) == 0


async def test_a_gateway_refuses_unavailable_while_the_ledger_is_down(replicas, postgres_server):
    async with open_channel(f"127.0.0.1:{replicas[0]}", token=TOKEN) as channel:
        stub = pb_grpc.LlmGatewayServiceStub(channel)
        postgres_server.stop()
        try:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Generate(request(), timeout=30)
        finally:
            postgres_server.start()
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "quota ledger" in refused.value.details()
        reply = await stub.Generate(request(), timeout=30)  # the ledger is back
        assert reply.generated_tokens == NEW_TOKENS
