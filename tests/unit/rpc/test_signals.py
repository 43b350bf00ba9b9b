"""serve() in its own process: SIGTERM drains in-flight calls, then the process exits 0."""

import asyncio
import os
import signal
import subprocess
import sys

import grpc
import pytest

from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc.client import open_channel
from tests.unit.rpc.conftest import TENANT_TOKEN

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


@pytest.fixture
def serving_process(tokens_file):
    env = {
        **os.environ,
        "NASFORGE_AUTH_TOKENS_FILE": str(tokens_file),
        "NASFORGE_SHUTDOWN_GRACE_SECONDS": "5",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.rpc.serve_echo"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    port = int(process.stdout.readline())
    yield process, port
    if process.poll() is None:
        process.kill()
    process.wait(10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_drains_in_flight_call_then_exits(serving_process, signum):
    process, port = serving_process
    async with open_channel(f"127.0.0.1:{port}", token=TENANT_TOKEN) as channel:
        stub = pb_grpc.LlmGatewayServiceStub(channel)
        slow = asyncio.ensure_future(
            stub.Generate(
                pb.GenerateRequest(
                    model="m",
                    messages=[pb.ChatMessage(content="drain me")],
                    parameters=pb.GenerationParameters(max_new_tokens=1000),
                )
            )
        )
        await asyncio.sleep(0.3)
        process.send_signal(signum)
        reply = await slow
        assert reply.text == "tenant=acme prompt=drain me"
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Generate(pb.GenerateRequest(model="m"), timeout=2)
        assert error.value.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
    assert await asyncio.to_thread(process.wait, 10) == 0
    assert "shutting down" in process.stderr.read()
