"""The harness itself: three replicas each on its own port, one killed and restarted on
the same port, one stopped, one added; stack.json lists them all."""

import grpc
import pytest

from localstack import read_description
from nasforge.search_core.v1 import search_core_pb2 as pb
from tests.integration.replicas.conftest import search_clients

pytestmark = pytest.mark.timeout(300)


async def _answers(client, wait_for_ready: bool = True) -> bool:
    """Whether the replica behind ``client`` answers (NOT_FOUND for an unknown search);
    ``wait_for_ready`` rides out the channel's reconnect backoff after a restart."""
    try:
        await client.stub.GetSearch(
            pb.GetSearchRequest(search_id="s-none"), timeout=10, wait_for_ready=wait_for_ready
        )
    except grpc.aio.AioRpcError as exc:
        return exc.code() == grpc.StatusCode.NOT_FOUND
    raise AssertionError("an unknown search was found")


async def test_replicas_are_killed_restarted_stopped_and_added_one_by_one(three_replicas):
    stack = three_replicas
    assert stack.replicas("search_core") == ["search_core", "search_core-2", "search_core-3"]
    targets = stack.targets()
    assert len(set(targets)) == 3
    assert read_description(stack.directory)["replicas"]["search_core"] == targets

    stack.kill("search_core-2")
    async with search_clients(stack) as clients:
        assert [await _answers(client, False) for client in clients] == [True, False, True]
        stack.restart("search_core-2")
        assert stack.targets() == targets  # back on its own port
        assert await _answers(clients[1])

    assert stack.terminate("search_core-3") == 0
    assert not stack.is_running("search_core-3")
    added = stack.add_replica()
    assert added == "search_core-4" and stack.is_running(added)
    assert read_description(stack.directory)["replicas"]["search_core"] == stack.targets()
    async with search_clients(stack) as clients:
        answers = [await _answers(client, name != "search_core-3") for name, client in
                   zip(stack.replicas("search_core"), clients, strict=True)]  # fmt: skip
        assert answers == [True, True, False, True]
