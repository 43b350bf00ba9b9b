"""Fixtures: several search_core replicas on one real PostgreSQL, with the real gateway,
sandbox and trainer (every service a process on 127.0.0.1, as in tests/integration/search).

`two_replicas` and `three_replicas` are started LocalStacks whose search_core replicas are
processes `search_core`, `search_core-2` (and `search_core-3`), each on its own port
(`stack.targets()`), sharing one fresh database of the session's PostgreSQL server as their
store and as every service's quota ledger (NASFORGE_QUOTA_LEDGER). A test crashes one
replica with `stack.kill("search_core-2")`, stops it gently with `stack.terminate(name)`,
brings it back on the same port with `stack.restart(name)`, or starts one more with
`stack.add_replica()`. `search_clients(stack)` opens a SearchClient per replica (a client
of a killed replica fails its calls until the replica is back, and for its channel's
reconnect backoff after that unless a call says wait_for_ready=True); `wait_until_ended`
polls a search's state, which any replica reads from the shared store.

No LLM: searches use the template generator (tests/support/searches.py).
"""

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from cli.search_client import SearchClient
from localstack import LocalStack
from nasforge.search_core.v1 import search_core_pb2 as pb

# Short leases, so that a dead replica's searches move on within seconds
# (NASFORGE_SEARCH_LEASE_SECONDS; renewed every third of it).
LEASE_SECONDS = 6.0
ENDED = {pb.SEARCH_STATE_SUCCEEDED, pb.SEARCH_STATE_FAILED, pb.SEARCH_STATE_CANCELLED}


def start_replicated_stack(directory: Path, store_url: str, replicas: int) -> LocalStack:
    """A LocalStack with ``replicas`` search_core replicas on ``store_url`` (also the quota
    ledger of every service), started without the LLM."""
    stack = LocalStack(
        directory=directory,
        tenant="acme",
        namespace=f"nasforge-test-{uuid.uuid4().hex[:8]}",
        store_url=store_url,
        quota_ledger_url=store_url,
        search_core_replicas=replicas,
        extra_env={
            "search_core": {
                "NASFORGE_SEARCH_LEASE_SECONDS": str(LEASE_SECONDS),
                # One audit log for every replica (appends are flock'd; see rpc/audit.py).
                "NASFORGE_SEARCH_AUDIT_LOG": str(directory / "audit.log"),
            }
        },
    )
    return stack.start(with_llm=False)


def _stopped_cleanly(stack: LocalStack) -> None:
    codes = stack.stop()
    # A replica a test killed and left dead ends with SIGKILL's code; the rest exit cleanly.
    assert all(code in (0, -signal.SIGKILL) for code in codes.values()), codes


@pytest.fixture
def two_replicas(tmp_path, postgres_url) -> Iterator[LocalStack]:
    stack = start_replicated_stack(tmp_path / "stack", postgres_url, 2)
    yield stack
    _stopped_cleanly(stack)


@pytest.fixture
def three_replicas(tmp_path, postgres_url) -> Iterator[LocalStack]:
    stack = start_replicated_stack(tmp_path / "stack", postgres_url, 3)
    yield stack
    _stopped_cleanly(stack)


@asynccontextmanager
async def search_clients(
    stack: LocalStack, token: str | None = None
) -> AsyncIterator[list[SearchClient]]:
    """One SearchClient per search_core replica, first to last, with `token` (default: the
    stack tenant's)."""
    async with AsyncExitStack() as clients:
        yield [
            await clients.enter_async_context(
                SearchClient(target, token or stack.tenant_token, tls=stack.public_tls)
            )
            for target in stack.targets()
        ]


async def wait_until_ended(client: SearchClient, search_id: str, seconds: float = 400) -> pb.Search:
    """The search once it has ended (succeeded, failed or cancelled), read through
    ``client``'s replica every half second."""
    deadline = time.monotonic() + seconds
    while True:
        search = (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
        if search.state in ENDED:
            return search
        if time.monotonic() > deadline:
            raise AssertionError(f"{search_id} still {pb.SearchState.Name(search.state)}")
        await asyncio.sleep(0.5)
