"""ListSearches through a real gRPC server and the CLI's client: newest first, filtered,
paged, with each search's progress; bad requests are INVALID_ARGUMENT."""

import grpc
import pytest

from cli.search_client import SearchClient
from nasforge.search_core.v1 import search_core_pb2 as pb
from rpc.server import start_server
from search_core.config import SearchCoreSettings
from search_core.engine.runner import SearchEngine
from search_core.server import search_binding
from search_core.store import open_store
from tests.unit.search_core.engine.scripted import ScriptedServices, method_factory
from tests.unit.search_core.engine.test_search_quotas import DistinctTemplates
from tests.unit.search_core.test_audit_events import CONFIG


@pytest.fixture
async def client(tmp_path):
    store = open_store(str(tmp_path / "store.db"))
    settings = SearchCoreSettings(allow_anonymous_tenant="acme", plaintext=True)
    services = ScriptedServices()
    services.train_delay = 60  # every search stays running until cancelled or closed
    engine = SearchEngine(store, services, settings, method_factory(DistinctTemplates))
    await engine.start()
    running = await start_server([search_binding(engine)], settings)
    async with SearchClient(f"127.0.0.1:{running.port}", None, tls=None) as search_client:
        yield search_client
    await running.shutdown(0)
    await engine.close()
    store.close()


async def test_searches_newest_first_filtered_and_paged(client):
    ids = [await client.submit(CONFIG) for _ in range(3)]
    await client.control("cancel", ids[0])
    listed = await client.list_searches()
    assert [s.search_id for s in listed] == ids[::-1]
    assert all(s.spec.max_candidates == 1 for s in listed)
    cancelled = await client.list_searches(states=["cancelled"])
    assert [s.search_id for s in cancelled] == [ids[0]]
    assert await client.list_searches(methods=["fairnad"]) == []
    first = await client.stub.ListSearches(pb.ListSearchesRequest(page_size=2))
    second = await client.stub.ListSearches(
        pb.ListSearchesRequest(page_size=2, page_token=first.next_page_token)
    )
    paged = [s.search_id for s in (*first.searches, *second.searches)]
    assert paged == ids[::-1] and second.next_page_token == ""
    # The searches move on between calls: compare which, not their progress.
    assert [s.search_id for s in await client.list_searches(limit=2)] == ids[:0:-1]


@pytest.mark.parametrize(
    "request_fields",
    [{"page_size": 201}, {"page_size": -1}, {"page_token": "nope"}, {"states": [99]}],
)
async def test_bad_requests_are_invalid_arguments(client, request_fields):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.stub.ListSearches(pb.ListSearchesRequest(**request_fields))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
