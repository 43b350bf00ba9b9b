"""Fixtures: a local stack (every service a real process on 127.0.0.1) and a search client.

The stack runs without the embedded LLM: searches here use the template generator, so the
whole path (store, engine, sandbox containers, training containers, gRPC API) is real and
the tests take minutes, not the LLM's hours.
"""

import uuid

import pytest

from cli.search_client import SearchClient
from localstack import LocalStack
from tests.support.searches import template_search


@pytest.fixture
def stack(tmp_path):
    instance = LocalStack(
        directory=tmp_path / "stack",
        tenant="acme",
        namespace=f"nasforge-test-{uuid.uuid4().hex[:8]}",
    )
    instance.start(with_llm=False)
    yield instance
    codes = instance.stop()
    assert all(code == 0 for code in codes.values()), codes


@pytest.fixture
async def client(stack):
    async with SearchClient(
        stack.target("search_core"), stack.tenant_token, tls=stack.public_tls
    ) as instance:
        yield instance


small_config = template_search  # 3 candidates, trained one epoch on 1,024 images
