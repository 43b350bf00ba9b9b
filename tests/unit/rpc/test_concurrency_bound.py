"""max_concurrent_rpcs through a real grpc.aio server on 127.0.0.1:0: calls over the bound are
refused at once, streams hold a place while open, and the health check survives saturation."""

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc.healthcheck import grpc_healthy
from rpc.settings import ServerSettings
from search_core.config import SearchCoreSettings
from tests.unit.rpc.conftest import TENANT_TOKEN
from tests.unit.rpc.test_server import SERVICE, _generate, _stream_request

BOUND = 2


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"max_concurrent_rpcs": BOUND})


async def _until_handling(server, *methods: str, attempts: int = 100) -> None:
    """Wait until the server handles a call of each method (calls sent at once race for the
    places: whichever arrives third is the one refused)."""
    for _ in range(attempts):
        handling = [
            server.registry.get_sample_value(
                "nasforge_rpc_in_flight_requests", {"service": SERVICE, "method": method}
            )
            for method in methods
        ]
        if all(count == 1 for count in handling):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the server is not handling {methods} after {attempts} looks")


async def _served(channel, attempts: int = 100):
    """Call until the server serves again (a place is given back once the call has ended)."""
    for _ in range(attempts):
        try:
            return await _generate(channel)
        except grpc.aio.AioRpcError as refused:
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await asyncio.sleep(0.05)
    pytest.fail(f"no call was served in {attempts} tries after the held ones ended")


async def test_calls_over_the_bound_are_refused_until_those_in_flight_end(server, connect):
    channel = connect(TENANT_TOKEN)
    slow = asyncio.create_task(_generate(channel, delay_ms=3000))
    stream = pb_grpc.LlmGatewayServiceStub(channel).GenerateStream(
        _stream_request(delay_ms=60_000)  # open, silent, until cancelled
    )
    try:
        await _until_handling(server, "Generate", "GenerateStream")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _generate(channel)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "limit" in refused.value.details().lower()

        # Health shares the bound: the check is refused, and the probe reads that as alive.
        with pytest.raises(grpc.aio.AioRpcError) as health:
            await health_pb2_grpc.HealthStub(connect(None)).Check(
                health_pb2.HealthCheckRequest(service="")
            )
        assert health.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        healthy, detail = await asyncio.to_thread(grpc_healthy, f"127.0.0.1:{server.port}")
        assert healthy, detail
        assert "bound" in detail

        stream.cancel()  # a cancelled stream gives its place back
        assert (await _served(channel)).text.startswith("tenant=acme")
    finally:
        stream.cancel()
    assert (await slow).text.startswith("tenant=acme")  # the held call itself was unharmed
    replies = await asyncio.gather(*(_served(channel) for _ in range(BOUND)))
    assert all(reply.text.startswith("tenant=acme") for reply in replies)


def test_every_server_is_bounded_by_default_and_each_service_reads_its_own_variable(
    monkeypatch,
):
    assert ServerSettings(plaintext=True).max_concurrent_rpcs == 256
    monkeypatch.setenv("NASFORGE_SEARCH_MAX_CONCURRENT_RPCS", "64")
    assert SearchCoreSettings(plaintext=True).max_concurrent_rpcs == 64
    with pytest.raises(ValueError):
        ServerSettings(plaintext=True, max_concurrent_rpcs=0)
