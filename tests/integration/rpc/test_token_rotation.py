"""Token rotation against a running server process: `nasforge tenant token-revoke` and
`token-add` take effect within seconds, with no restart, and other tokens keep working."""

import asyncio
import os
import pathlib
import re
import subprocess
import sys
import time

import grpc
import pytest

from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc.client import open_channel

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
NASFORGE = pathlib.Path(sys.executable).parent / "nasforge"
TAKES_EFFECT_WITHIN_SECONDS = 3.0


def tenant_cli(path: pathlib.Path, *args: str) -> str:
    result = subprocess.run(
        [str(NASFORGE), "tenant", "--file", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def add_token(path: pathlib.Path, name: str) -> tuple[str, str]:
    out = tenant_cli(path, "token-add", name)
    return (
        re.search(r"^token id: (\S+)$", out, re.M).group(1),
        re.search(r"^token: (\S+)$", out, re.M).group(1),
    )


@pytest.fixture
def registry_file(tmp_path):
    path = tmp_path / "tokens.json"
    tenant_cli(path, "create", "acme")
    return path


@pytest.fixture
def issued(registry_file):
    """Two tokens of acme, issued before the server starts: {id: token}."""
    return dict(add_token(registry_file, "acme") for _ in range(2))


@pytest.fixture
def serving_process(registry_file, issued, tmp_path):
    """The echo gateway served by rpc.server.serve() in its own process."""
    env = {**os.environ, "NASFORGE_AUTH_TOKENS_FILE": str(registry_file)}
    with (tmp_path / "server.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.unit.rpc.serve_echo"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    port = int(process.stdout.readline())
    yield process, port
    process.terminate()
    process.wait(30)


async def call_as(port: int, token: str) -> grpc.StatusCode:
    """The status of one Generate call with ``token``; the echo names the tenant."""
    async with open_channel(f"127.0.0.1:{port}", token=token) as channel:
        stub = pb_grpc.LlmGatewayServiceStub(channel)
        try:
            response = await stub.Generate(
                pb.GenerateRequest(model="m", messages=[pb.ChatMessage(role="user", content="hi")]),
                timeout=10,
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    assert response.text.startswith("tenant=acme ")
    return grpc.StatusCode.OK


async def wait_for(port: int, token: str, code: grpc.StatusCode, steady_token: str) -> float:
    """Seconds until ``token`` gets ``code``; ``steady_token`` must work at every step."""
    started = time.monotonic()
    while time.monotonic() - started < TAKES_EFFECT_WITHIN_SECONDS:
        assert await call_as(port, steady_token) == grpc.StatusCode.OK
        if await call_as(port, token) == code:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"token did not get {code.name} within {TAKES_EFFECT_WITHIN_SECONDS}s")


async def test_revoked_token_is_refused_and_new_token_works_without_restart(
    registry_file, issued, serving_process
):
    process, port = serving_process
    (old_id, old_token), (_, steady_token) = issued.items()
    assert await call_as(port, old_token) == grpc.StatusCode.OK
    assert await call_as(port, steady_token) == grpc.StatusCode.OK

    tenant_cli(registry_file, "token-revoke", old_id)
    await wait_for(port, old_token, grpc.StatusCode.UNAUTHENTICATED, steady_token)

    _, new_token = add_token(registry_file, "acme")
    await wait_for(port, new_token, grpc.StatusCode.OK, steady_token)
    assert await call_as(port, old_token) == grpc.StatusCode.UNAUTHENTICATED
    assert await call_as(port, "never-issued") == grpc.StatusCode.UNAUTHENTICATED
    assert process.poll() is None  # the same process all along
