"""Upstreams that fail, stall or refuse, and tenants over their quotas, through real gRPC.

The upstream is the canned TGI peer (tgi_peer.py, a real HTTP server) or a port where
nothing listens; the gateway reaches both through the real text-generation client.
"""

import asyncio
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llm_gateway.config import TenantLimits
from nasforge.common.v1 import common_pb2
from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from tests.integration.llm_gateway.conftest import dead_url, elapsed, model
from tests.integration.llm_gateway.tgi_peer import Behaviour

HELLO = [pb.ChatMessage(role="user", content="hello")]
HALLUCINATING_ANSWER = """Here you go:

```python
import torch
import torch.nn as nn
from einops import rearrange


def supported_hyperparameters():
    return {'lr'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.conv = nn.Conv2d(in_shape[1], 8, 3, bias_init=0.0)
        self.act = nn.Swish()
        self.fc = nn.Linear(8, out_shape[0])

    def train_setup(self, prm):
        self.criteria = (nn.CrossEntropyLoss(),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'])

    def learn(self, train_data):
        for x, y in train_data:
            self.optimizer.zero_grad()
            self.criteria[0](self(x), y).backward()
            self.optimizer.step()

    def forward(self, x):
        return self.fc(rearrange(self.act(self.conv(x)), 'b c h w -> b c (h w)').mean(-1))
```
"""


def request(name: str = "peer", tokens: int = 32, **fields) -> pb.GenerateRequest:
    return pb.GenerateRequest(
        model=name,
        messages=HELLO,
        parameters=pb.GenerationParameters(max_new_tokens=tokens),
        **fields,
    )


def stream_request(name: str = "peer", tokens: int = 32) -> pb.GenerateStreamRequest:
    return pb.GenerateStreamRequest(
        model=name, messages=HELLO, parameters=pb.GenerationParameters(max_new_tokens=tokens)
    )


async def collect(stub, message, **options) -> list:
    return [piece async for piece in stub.GenerateStream(message, **options)]


async def test_hallucinated_names_are_found_and_counted(serve_gateway, peer):
    peer.behaviour = Behaviour(answer=HALLUCINATING_ANSWER)
    gateway = await serve_gateway([model("peer", peer.url)])
    reply = await gateway.stub.Generate(request(tokens=256, answer_kind=pb.ANSWER_KIND_NET_CODE))
    analysis = reply.analysis
    assert analysis.outcome == common_pb2.OUTCOME_HALLUCINATED_API
    assert analysis.extraction_rule == "fenced-net-class"
    assert analysis.content.startswith("import torch") and "Here you go" not in analysis.content
    assert {(name.kind, name.name) for name in analysis.hallucinated_names} == {
        (pb.HALLUCINATION_KIND_MODULE, "einops"),
        (pb.HALLUCINATION_KIND_KEYWORD, "torch.nn.Conv2d(bias_init=)"),
        (pb.HALLUCINATION_KIND_ATTRIBUTE, "torch.nn.Swish"),
    }
    rules = {finding.rule for finding in analysis.findings}
    assert {"unknown-module", "unknown-keyword", "unknown-name"} <= rules
    for kind in ("module", "keyword", "attribute"):
        assert gateway.metric("nasforge_gateway_hallucinations_total", model="peer", kind=kind) == 1
    sent = peer.record.requests[0]
    assert sent["inputs"] == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    assert sent["parameters"]["max_new_tokens"] == 256
    assert sent["parameters"]["decoder_input_details"] is True


async def test_a_dead_upstream_is_unavailable_fast_then_the_breaker_answers_at_once(
    serve_gateway,
):
    gateway = await serve_gateway(
        [model("dead", dead_url())], retry_attempts=3, breaker_failure_threshold=3
    )
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await gateway.stub.Generate(request("dead"), timeout=30)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "unavailable" in error.value.details()
    assert elapsed(started) < 2.0  # three refused connections and two short backoffs
    assert (
        gateway.metric(
            "nasforge_gateway_upstream_requests_total", model="dead", result="unavailable"
        )
        == 3
    )
    assert gateway.metric("nasforge_gateway_circuit_state", model="dead") == 2  # open
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await collect(gateway.stub, stream_request("dead"), timeout=30)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "circuit open" in error.value.details()
    assert elapsed(started) < 0.5
    assert (
        gateway.metric(
            "nasforge_gateway_upstream_requests_total", model="dead", result="circuit_open"
        )
        == 1
    )


@pytest.mark.parametrize("streaming", [False, True], ids=["unary", "stream"])
async def test_a_slow_upstream_is_cut_at_the_callers_deadline(serve_gateway, peer, streaming):
    peer.behaviour = Behaviour(first_token_delay=10.0)
    gateway = await serve_gateway([model("peer", peer.url, timeout_seconds=60)])
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        if streaming:
            await collect(gateway.stub, stream_request(), timeout=1.0)
        else:
            await gateway.stub.Generate(request(), timeout=1.0)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed(started) < 2.0
    for _ in range(50):  # the upstream request was given the same deadline, and hung up
        if peer.record.hung_up:
            break
        await asyncio.sleep(0.05)
    assert peer.record.hung_up == 1 and peer.record.finished == 0
    assert len(peer.record.requests) == 1  # a timeout is not retried


async def test_the_models_own_timeout_bounds_a_call_without_a_deadline(serve_gateway, peer):
    peer.behaviour = Behaviour(first_token_delay=10.0)
    gateway = await serve_gateway([model("peer", peer.url, timeout_seconds=0.5)])
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await gateway.stub.Generate(request(), timeout=30)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "did not answer in time" in error.value.details()


async def test_an_overloaded_upstream_is_retried_then_unavailable(serve_gateway, peer):
    peer.behaviour = Behaviour(status=429, error_type="overloaded")
    gateway = await serve_gateway([model("peer", peer.url)], retry_attempts=3)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await gateway.stub.Generate(request())
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "overloaded" in error.value.details()
    assert len(peer.record.requests) == 3
    peer.behaviour = Behaviour(answer="back again")
    reply = await gateway.stub.Generate(request())
    assert reply.text == "back again" and reply.upstream_attempts == 1


async def test_a_retry_that_succeeds_is_invisible_but_counted(serve_gateway, peer):
    peer.behaviour = Behaviour(status=503, error_type="overloaded")
    gateway = await serve_gateway([model("peer", peer.url)], retry_attempts=5)

    async def recover():
        for _ in range(2000):
            if len(peer.record.requests) >= 2:
                break
            await asyncio.sleep(0.005)
        peer.behaviour = Behaviour(answer="recovered")

    recovery = asyncio.create_task(recover())
    reply = await gateway.stub.Generate(request())
    await recovery
    assert reply.text == "recovered"
    assert reply.upstream_attempts == len(peer.record.requests) >= 3


async def test_a_validation_error_upstream_is_invalid_argument_and_not_retried(serve_gateway, peer):
    peer.behaviour = Behaviour(
        status=422, error_type="validation", error_message="Input validation error: too long"
    )
    gateway = await serve_gateway([model("peer", peer.url)])
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await gateway.stub.Generate(request())
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "too long" in error.value.details()
    assert len(peer.record.requests) == 1
    assert gateway.metric("nasforge_gateway_circuit_state", model="peer") == 0


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour(answer="a b c d e f", fail_after_tokens=3),
        Behaviour(answer="a b c d e f", drop_after_tokens=3),
    ],
    ids=["error-event", "dropped-connection"],
)
async def test_a_stream_that_breaks_after_tokens_is_unavailable_and_not_retried(
    serve_gateway, peer, behaviour
):
    peer.behaviour = behaviour
    gateway = await serve_gateway([model("peer", peer.url)])
    pieces = []
    with pytest.raises(grpc.aio.AioRpcError) as error:
        async for piece in gateway.stub.GenerateStream(stream_request()):
            pieces.append(piece.text)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    # A dropped connection may lose the last events written before it; an error event not.
    assert pieces and pieces == ["a", " b", " c"][: len(pieces)]
    assert len(peer.record.requests) == 1
    assert gateway.core.tokens_used_today("acme") > len(pieces)  # what it consumed is charged


async def test_the_daily_token_quota_answers_resource_exhausted_with_its_details(
    serve_gateway, peer
):
    peer.behaviour = Behaviour(answer="one two three four")
    gateway = await serve_gateway(
        [model("peer", peer.url)],
        tenant_limits={"acme": TenantLimits(requests_per_second=100, burst=100, daily_tokens=60)},
    )
    reply = await gateway.stub.Generate(request(tokens=16))
    assert reply.generated_tokens == 4
    used = reply.prompt_tokens + reply.generated_tokens
    assert gateway.core.tokens_used_today("acme") == used
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await gateway.stub.Generate(request(tokens=60 - used))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error.value)
    failure, retry = error_details_pb2.QuotaFailure(), error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(failure) and status.details[1].Unpack(retry)
    (violation,) = failure.violations
    assert (violation.subject, violation.quota_id, violation.quota_value) == (
        "tenant:acme",
        "daily_tokens",
        60,
    )
    assert f"{60 - used} left" in violation.description
    assert 0 < retry.retry_delay.seconds <= 86_400
    assert len(peer.record.requests) == 1  # refused before going upstream
    assert (
        gateway.metric(
            "nasforge_gateway_quota_rejections_total", tenant="acme", quota="daily_tokens"
        )
        == 1
    )


async def test_the_rate_limit_answers_resource_exhausted_with_when_to_retry(serve_gateway, peer):
    gateway = await serve_gateway(
        [model("peer", peer.url)],
        tenant_limits={"acme": TenantLimits(requests_per_second=0.5, burst=2)},
    )
    await gateway.stub.Generate(request())
    await collect(gateway.stub, stream_request())
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await collect(gateway.stub, stream_request())
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error.value)
    failure, retry = error_details_pb2.QuotaFailure(), error_details_pb2.RetryInfo()
    status.details[0].Unpack(failure)
    status.details[1].Unpack(retry)
    assert failure.violations[0].quota_id == "requests_per_minute"
    assert failure.violations[0].quota_value == 30
    assert 1000 < retry.retry_delay.ToMilliseconds() <= 2000
    assert (
        gateway.metric(
            "nasforge_gateway_quota_rejections_total", tenant="acme", quota="requests_per_minute"
        )
        == 1
    )


async def test_concurrent_upstream_calls_are_bounded(serve_gateway, peer):
    peer.behaviour = Behaviour(answer="x y z", token_delay=0.05)
    gateway = await serve_gateway([model("peer", peer.url, max_concurrent_requests=2)])
    replies = await asyncio.gather(*(gateway.stub.Generate(request()) for _ in range(6)))
    assert [reply.text for reply in replies] == ["x y z"] * 6
    assert peer.record.max_in_flight == 2


async def test_a_full_queue_is_resource_exhausted(serve_gateway, peer):
    peer.behaviour = Behaviour(answer="slow", first_token_delay=0.5)
    gateway = await serve_gateway(
        [model("peer", peer.url, max_concurrent_requests=1, max_queued_requests=0)]
    )
    first = asyncio.ensure_future(gateway.stub.Generate(request()))
    await asyncio.sleep(0.2)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await gateway.stub.Generate(request())
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await first).text == "slow"
    assert (
        gateway.metric(
            "nasforge_gateway_upstream_requests_total", model="peer", result="queue_full"
        )
        == 1
    )


async def test_a_caller_that_gives_up_cancels_the_upstream_call(serve_gateway, peer):
    peer.behaviour = Behaviour(answer="a b c d e f g h", token_delay=0.3)
    gateway = await serve_gateway([model("peer", peer.url)])
    call = gateway.stub.GenerateStream(stream_request())
    assert (await call.read()).text == "a"
    call.cancel()
    for _ in range(50):
        if peer.record.hung_up:
            break
        await asyncio.sleep(0.05)
    assert peer.record.hung_up == 1
    assert gateway.metric("nasforge_gateway_upstream_in_flight_requests", model="peer") == 0
