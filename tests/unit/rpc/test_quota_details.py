"""QuotaExceeded with named quotas reaches the client as rich details (QuotaFailure, RetryInfo)."""

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc import errors
from rpc.client import open_channel
from rpc.server import bind, start_server
from tests.unit.rpc.conftest import TENANT_TOKEN
from tests.unit.rpc.fake_gateway import EchoGateway

VIOLATION = errors.QuotaViolation(
    subject="tenant:acme",
    quota_id="daily_tokens",
    limit=1000,
    description="1000 tokens a day: 990 used, this request needs 64",
)


class QuotaGateway(EchoGateway):
    """Raises a quota error chosen by the model name, before any work."""

    async def Generate(self, request, context):
        if request.model == "rich":
            raise errors.QuotaExceeded(
                "daily token quota used up", violations=(VIOLATION,), retry_after_seconds=1.5
            )
        raise errors.QuotaExceeded("queue is full")

    async def GenerateStream(self, request, context):
        raise errors.QuotaExceeded("rate limit", violations=(VIOLATION,))
        yield  # pragma: no cover - makes this an async generator


@pytest.fixture
async def stub(settings):
    binding = bind(
        pb_grpc.add_LlmGatewayServiceServicer_to_server,
        QuotaGateway(),
        pb.DESCRIPTOR.services_by_name["LlmGatewayService"],
    )
    running = await start_server([binding], settings)
    channel = open_channel(f"127.0.0.1:{running.port}", token=TENANT_TOKEN)
    yield pb_grpc.LlmGatewayServiceStub(channel)
    await channel.close()
    await running.shutdown(0)


def _details(error: grpc.aio.AioRpcError) -> dict[str, object]:
    status = rpc_status.from_call(error)
    assert status is not None and status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    found: dict[str, object] = {}
    for detail in status.details:
        for kind in (error_details_pb2.QuotaFailure, error_details_pb2.RetryInfo):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind.__name__] = message
    return found


async def test_named_quota_reaches_the_client_as_quota_failure_and_retry_info(stub):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Generate(pb.GenerateRequest(model="rich"))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.value.details() == "daily token quota used up"
    details = _details(error.value)
    (violation,) = details["QuotaFailure"].violations
    assert violation.subject == "tenant:acme"
    assert violation.quota_id == "daily_tokens"
    assert violation.quota_value == 1000
    assert "990 used" in violation.description
    assert details["RetryInfo"].retry_delay.ToMilliseconds() == 1500


async def test_streaming_rpcs_carry_the_details_too(stub):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        async for _ in stub.GenerateStream(pb.GenerateStreamRequest(model="m")):
            pass
    details = _details(error.value)
    assert details["QuotaFailure"].violations[0].quota_id == "daily_tokens"
    assert "RetryInfo" not in details


async def test_a_quota_error_without_named_quotas_stays_plain(stub):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Generate(pb.GenerateRequest(model="plain"))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rpc_status.from_call(error.value) is None
