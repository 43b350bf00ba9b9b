"""Attacker suite: every test here is marked `docker` (most run real sandbox or training
containers through a LocalStack); shared fixtures and the attacker's tools.

The whole folder shares one LocalStack (session scope: on this 2-core machine a stack's
start and its first containers are most of a module's run time); each module makes its own
tenants, with names of its own, with `nasforge tenant` on the running stack's tokens file,
as an operator would, so no module sees another's searches. Searches are template searches
that only check (0 epochs) unless a test needs scores: training is minutes here.
"""

import asyncio
import pathlib
import uuid
import warnings

import grpc
import pytest

from localstack import LocalStack
from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from rpc.client import open_channel
from tests.support.searches import template_search

HERE = pathlib.Path(__file__).parent
TENANT_A = "alpha"
# How long a token change may take to reach every service (they re-read the file every
# second; rpc.tenants.TenantDirectory).
RELOAD_SECONDS = 5.0


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in pathlib.Path(item.fspath).parents:
            item.add_marker(pytest.mark.docker)


def start_stack(directory: pathlib.Path, **overrides) -> LocalStack:
    """A LocalStack without the LLM (template searches), in its own container namespace."""
    instance = LocalStack(
        directory=directory,
        tenant=TENANT_A,
        namespace=f"nasforge-sec-{uuid.uuid4().hex[:8]}",
        **overrides,
    )
    instance.start(with_llm=False)
    return instance


def stop_stack(instance: LocalStack) -> None:
    """Stop the services; warn when the stack had to remove containers they left (a service
    should leave none)."""
    codes = instance.stop()
    if instance.leftovers_removed:
        warnings.warn(
            f"{instance.leftovers_removed} containers outlived the stack and were removed",
            stacklevel=1,
        )
    assert all(code == 0 for code in codes.values()), codes


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One LocalStack (TLS on its public port) for the whole folder."""
    instance = start_stack(tmp_path_factory.mktemp("stack"))
    yield instance
    stop_stack(instance)


def add_tenant(stack: LocalStack, name: str, *quotas: str) -> tuple[str, str]:
    """Create tenant ``name`` (with KEY=VALUE quotas) and issue it a token: (token id, token);
    usable within RELOAD_SECONDS."""
    return stack.add_tenant(name, *quotas)


def add_token(stack: LocalStack, name: str) -> tuple[str, str]:
    return stack.add_token(name)


def revoke_token(stack: LocalStack, token_id: str) -> None:
    stack.manage_tenants("token-revoke", token_id)


def service_token(stack: LocalStack) -> str:
    return (stack.directory / "service-token").read_text().strip()


def stack_channel(stack: LocalStack, token: str | None, **options) -> grpc.aio.Channel:
    """A channel to search_core built the way the stack's SearchClient builds its own (TLS
    with the stack's CA); ``token=None`` sends no authorization header (the tests that forge
    headers set their own)."""
    return open_channel(stack.target("search_core"), token=token, tls=stack.public_tls, **options)


def stub(channel: grpc.aio.Channel) -> pb_grpc.SearchServiceStub:
    return pb_grpc.SearchServiceStub(channel)


def small_config(method: str = "random", candidates: int = 2, epochs: int = 0, **overrides) -> dict:
    """A template search; with 0 epochs its candidates end after their sandbox check
    (seconds), with 1 they are trained on 64 images (minutes on this machine)."""
    return template_search(
        method,
        candidates,
        epochs=epochs,
        train_samples=64,
        validation_samples=32,
        test_samples=32,
        **overrides,
    )


async def watch_to_end(client_stub, search_id: str, deadline_seconds: float = 400) -> list:
    """Every event of a search until it ends."""
    return [
        event
        async for event in client_stub.WatchSearch(
            pb.WatchSearchRequest(search_id=search_id), timeout=deadline_seconds
        )
    ]


async def until_code(call, expected: grpc.StatusCode | None, seconds: float = RELOAD_SECONDS):
    """Repeat ``await call()`` until it ends with ``expected`` (None: OK); the last error
    (or response) is returned. Token changes reach the services within seconds."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            result = await call()
            code = None
        except grpc.aio.AioRpcError as exc:
            result, code = exc, exc.code()
        if code == expected or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.2)
