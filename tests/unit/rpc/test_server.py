"""rpc.server through a real grpc.aio server on 127.0.0.1:0 and real clients."""

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import generate_latest

from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc import tenant as tenant_context
from tests.unit.rpc.conftest import SERVICE_TOKEN, TENANT_TOKEN

SERVICE = "nasforge.llm_gateway.v1.LlmGatewayService"


def _request(model="m", text="hello", delay_ms=0):
    return pb.GenerateRequest(
        model=model,
        messages=[pb.ChatMessage(role="user", content=text)],
        parameters=pb.GenerationParameters(max_new_tokens=delay_ms),
    )


def _stream_request(model="m", text="hello", delay_ms=0):
    return pb.GenerateStreamRequest(
        model=model,
        messages=[pb.ChatMessage(role="user", content=text)],
        parameters=pb.GenerationParameters(max_new_tokens=delay_ms),
    )


async def _generate(channel, **kwargs):
    return await pb_grpc.LlmGatewayServiceStub(channel).Generate(_request(**kwargs))


async def _stream_text(channel, **kwargs):
    words = []
    async for piece in pb_grpc.LlmGatewayServiceStub(channel).GenerateStream(
        _stream_request(**kwargs)
    ):
        words.append(piece.text)
    return " ".join(w for w in words if w)


async def test_health_answers_serving_without_a_token(connect):
    health = health_pb2_grpc.HealthStub(connect(None))
    for service in ("", SERVICE):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_every_service_without_a_token(connect):
    stub = reflection_pb2_grpc.ServerReflectionStub(connect(None))

    async def one_request():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names = set()
    async for reply in stub.ServerReflectionInfo(one_request()):
        names |= {service.name for service in reply.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


@pytest.mark.parametrize("call", [_generate, _stream_text], ids=["unary", "streaming"])
@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, grpc.StatusCode.UNAUTHENTICATED),
        ("wrong-token", grpc.StatusCode.UNAUTHENTICATED),
        (TENANT_TOKEN, grpc.StatusCode.OK),
    ],
    ids=["no-token", "wrong-token", "valid-token"],
)
async def test_bearer_token_decides_access(connect, call, token, expected):
    channel = connect(token)
    if expected is grpc.StatusCode.OK:
        result = await call(channel)
        text = result if isinstance(result, str) else result.text
        assert "tenant=acme" in text
    else:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call(channel)
        assert error.value.code() == expected
        assert "tenant=" not in (error.value.details() or "")


async def test_malformed_authorization_header_is_unauthenticated(connect):
    channel = connect(None)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await pb_grpc.LlmGatewayServiceStub(channel).Generate(
            _request(), metadata=(("authorization", f"Basic {TENANT_TOKEN}"),)
        )
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_tenant_token_cannot_claim_another_tenant(connect):
    channel = connect(TENANT_TOKEN)
    reply = await pb_grpc.LlmGatewayServiceStub(channel).Generate(
        _request(), metadata=((tenant_context.TENANT_KEY, "beta"),)
    )
    assert reply.text.startswith("tenant=acme ")


async def test_service_token_acts_for_the_tenant_it_names(connect):
    channel = connect(SERVICE_TOKEN)
    token = tenant_context.set_current_tenant("beta")
    try:
        # rpc.client attaches the current tenant to the internal call.
        assert (await _generate(channel)).text.startswith("tenant=beta ")
        assert (await _stream_text(channel)).startswith("tenant=beta ")
    finally:
        tenant_context.reset_current_tenant(token)


async def test_service_token_without_a_tenant_is_refused(connect):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _generate(connect(SERVICE_TOKEN))
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("model", "code"),
    [
        ("missing", grpc.StatusCode.NOT_FOUND),
        ("quota", grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("bad", grpc.StatusCode.INVALID_ARGUMENT),
        ("small-context", grpc.StatusCode.OUT_OF_RANGE),
        ("slow-upstream", grpc.StatusCode.DEADLINE_EXCEEDED),
        ("bug", grpc.StatusCode.INTERNAL),
    ],
)
@pytest.mark.parametrize("call", [_generate, _stream_text], ids=["unary", "streaming"])
async def test_errors_map_to_precise_codes(connect, call, model, code):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(connect(TENANT_TOKEN), model=model)
    assert error.value.code() == code
    assert "secret internal detail" not in error.value.details()
    if code == grpc.StatusCode.INTERNAL:
        assert error.value.details().startswith("internal error (ref ")


async def test_client_always_sets_a_deadline(connect):
    channel = connect(TENANT_TOKEN, default_timeout_seconds=0.2)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _generate(channel, delay_ms=2000)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_oversized_message_is_refused(connect):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _generate(connect(TENANT_TOKEN), text="x" * (100 * 1024))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_metrics_count_every_call_by_final_code(server, connect):
    await _generate(connect(TENANT_TOKEN))
    with pytest.raises(grpc.aio.AioRpcError):
        await _generate(connect(None))
    exposition = generate_latest(server.registry).decode()

    def count(method, code):
        prefix = (
            f'nasforge_rpc_requests_total{{code="{code}",method="{method}",service="{SERVICE}"}} '
        )
        line = next(line for line in exposition.splitlines() if line.startswith(prefix))
        return float(line.removeprefix(prefix))

    assert count("Generate", "OK") == 1
    assert count("Generate", "UNAUTHENTICATED") == 1
    assert count("ListModels", "OK") == 0  # created at zero before any call
    assert "nasforge_rpc_duration_seconds_bucket" in exposition


async def test_shutdown_drains_in_flight_calls_and_reports_not_serving(server, connect):
    channel = connect(TENANT_TOKEN)
    watch = health_pb2_grpc.HealthStub(connect(None)).Watch(
        health_pb2.HealthCheckRequest(service=SERVICE)
    )
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    in_flight = asyncio.create_task(_generate(channel, delay_ms=700))
    await asyncio.sleep(0.2)
    shutdown = asyncio.create_task(server.shutdown(5))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
    reply = await in_flight
    assert reply.text.startswith("tenant=acme")
    await shutdown
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _generate(channel)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
