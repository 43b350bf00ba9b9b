"""Fixtures: a local stack (every service a real process on 127.0.0.1) and a search client.

The stack runs without the embedded LLM: searches here use the template generator, so the
whole path (store, engine, sandbox containers, training containers, gRPC API) is real and
the tests take minutes, not the LLM's hours.
"""

import uuid

import pytest

from cli.search_client import SearchClient
from cli.stack import LocalStack


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


def small_config(method: str = "random", candidates: int = 3, **overrides) -> dict:
    config = {
        "method": method,
        "generator": "template",
        "max_candidates": candidates,
        "seed": 3,
        "task": {
            "task": "img-classification",
            "dataset": "fashion-mnist",
            "in_shape": [32, 1, 28, 28],
            "out_shape": [10],
        },
        "training": {
            "epochs": 1,
            "train_samples": 1024,
            "validation_samples": 64,
            "test_samples": 256,
        },
    }
    config.update(overrides)
    return config
