"""Searches running at once per tenant: the refusal, its details, and fair slots across tenants."""

import asyncio
import json

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry

from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from rpc.client import open_channel
from rpc.errors import QuotaExceeded
from rpc.server import start_server
from rpc.tenant import current_tenant_or_none
from rpc.tenants import Quotas, TenantDirectory, edit_registry
from search_core.config import SearchCoreSettings
from search_core.domain import ACTIVE_STATES, Generator
from search_core.engine.fair_slots import FairSlots
from search_core.engine.proposals import Proposal
from search_core.engine.runner import SearchEngine
from search_core.metrics import SearchMetrics
from search_core.search_config import parse_config
from search_core.server import search_binding
from search_core.store import open_store
from tests.unit.search_core.engine.scripted import ScriptedServices, method_factory, model_code

ACME_TOKEN = "tok-acme-quota-test"
CONFIG = {"method": "random", "generator": "template", "max_candidates": 1, "training": {}}


class DistinctTemplates:
    """Template proposals whose code no other search of the test proposes (no duplicates)."""

    widths = iter(range(100, 10_000))

    def __init__(self, config=None, tenant=None) -> None:
        self._width = next(self.widths)

    def propose(self, slot, rng, history):
        code = model_code(self._width + slot)
        return Proposal(prefix="T", generator=Generator.TEMPLATE, code=code, hyperparameters={})


class RecordingServices(ScriptedServices):
    """Records the tenant of every training, in the order trainings start."""

    def __init__(self) -> None:
        super().__init__()
        self.trained_for: list[str | None] = []

    async def train(self, request, on_epoch):
        self.trained_for.append(current_tenant_or_none())
        return await super().train(request, on_epoch)


@pytest.fixture
def store(tmp_path):
    instance = open_store(str(tmp_path / "store.db"))
    yield instance
    instance.close()


@pytest.fixture
def registry_file(tmp_path):
    path = tmp_path / "tenants.json"
    with edit_registry(path) as registry:
        registry.add_tenant("acme", Quotas(running_searches=2))
        registry.add_tenant("globex")  # no quota of its own: the setting's default applies
        registry.add_tenant("frozen", Quotas(running_searches=0))
        registry.add_token("acme", token=ACME_TOKEN)
    return path


@pytest.fixture
def directory(registry_file):
    return TenantDirectory.from_file(registry_file, check_interval_seconds=0)


@pytest.fixture
async def engines():
    started: list[SearchEngine] = []

    def make(store, services, directory=None, **settings) -> SearchEngine:
        values = {"max_in_flight_per_search": 1, "max_running_searches_per_tenant": 3, **settings}
        engine = SearchEngine(
            store,
            services,
            SearchCoreSettings(**values),
            method_factory(DistinctTemplates),
            SearchMetrics(CollectorRegistry(), tenants=[], models=[], prompt_variants=["v1"]),
            quotas=directory.quotas if directory is not None else None,
        )
        started.append(engine)
        return engine

    yield make
    for engine in started:
        await engine.close()


def _slow_services() -> ScriptedServices:
    services = ScriptedServices()
    services.train_delay = 60  # every search stays RUNNING until the test ends
    return services


async def _submit(engine, tenant, request_id=""):
    return await engine.submit(tenant, parse_config(CONFIG), request_id)


async def test_a_submit_over_the_quota_is_refused_and_leaves_no_trace(store, directory, engines):
    engine = engines(store, _slow_services(), directory)
    first, second = await _submit(engine, "acme", "r1"), await _submit(engine, "acme", "r2")
    before = [s.search_id for s in store.list_searches(None)]
    with pytest.raises(QuotaExceeded) as error:
        await _submit(engine, "acme", "r3")
    (violation,) = error.value.violations
    assert (violation.subject, violation.quota_id, violation.limit) == (
        "tenant:acme",
        "running_searches",
        2,
    )
    assert [s.search_id for s in store.list_searches(None)] == before
    # A retry of an accepted submit still answers with its search, even at the quota.
    assert (await _submit(engine, "acme", "r2")).search_id == second.search_id
    with pytest.raises(QuotaExceeded):
        await _submit(engine, "acme", "r3")
    with pytest.raises(QuotaExceeded):
        await _submit(engine, "frozen")
    assert store.get_tenant("frozen") is None  # nothing stored, not even the tenant
    await _submit(engine, "globex")  # another tenant is not affected
    await engine.cancel("acme", first.search_id)
    third = await _submit(engine, "acme", "r3")  # an ended search frees its place
    assert store.get_search("acme", third.search_id).state in ACTIVE_STATES


async def test_the_registry_quota_overrides_the_default_and_changes_apply_at_once(
    store, registry_file, directory, engines
):
    engine = engines(store, _slow_services(), directory)
    assert engine.running_searches_limit("acme") == 2  # the registry's
    assert engine.running_searches_limit("globex") == 3  # the setting's default
    assert engines(store, _slow_services()).running_searches_limit("acme") == 3  # no registry
    for _ in range(3):
        await _submit(engine, "globex")
    with pytest.raises(QuotaExceeded) as error:
        await _submit(engine, "globex")
    assert error.value.violations[0].limit == 3

    with edit_registry(registry_file) as registry:  # no restart: the next submit sees it
        registry.set_quotas("globex", {"running_searches": 4})
        registry.set_quotas("acme", {"running_searches": 0})
    await _submit(engine, "globex")
    with pytest.raises(QuotaExceeded) as error:
        await _submit(engine, "acme")
    assert error.value.violations[0].limit == 0

    with edit_registry(registry_file) as registry:  # unset: back to the default
        registry.set_quotas("acme", {"running_searches": None})
    assert engine.running_searches_limit("acme") == 3


async def test_queued_searches_take_free_slots_round_robin_across_tenants(store, engines):
    services = RecordingServices()
    services.train_delay = 0.02
    engine = engines(store, services, max_running_searches=1, max_running_searches_per_tenant=4)
    searches = [await _submit(engine, "acme") for _ in range(4)]
    searches += [await _submit(engine, "globex") for _ in range(2)]
    for search in searches:
        async for _ in engine.watch(search.tenant_id, search.search_id):
            pass
    # First come, first served would run all of acme's before globex's first.
    assert services.trained_for == ["acme", "globex", "acme", "globex", "acme", "acme"]


async def test_fair_slots_go_to_the_tenant_holding_fewest_then_served_longest_ago():
    slots = FairSlots(2)
    granted: list[str] = []
    release: dict[str, asyncio.Event] = {}

    async def run(name: str) -> None:
        release[name] = asyncio.Event()
        async with slots.hold(name[0]):
            granted.append(name)
            await release[name].wait()

    tasks = [asyncio.create_task(run(name)) for name in ("a1", "a2", "a3", "a4", "b1", "c1")]
    await asyncio.sleep(0)
    assert granted == ["a1", "a2"]
    for name, expected in [("a1", "b1"), ("a2", "c1"), ("b1", "a3"), ("c1", "a4")]:
        release[name].set()
        await asyncio.sleep(0.01)
        assert granted[-1] == expected
    release["a3"].set()
    release["a4"].set()
    await asyncio.gather(*tasks)
    assert (slots.held("a"), slots.held("b")) == (0, 0)


async def test_a_waiter_cancelled_before_its_turn_gives_up_nothing():
    slots = FairSlots(1)
    holder_release = asyncio.Event()

    async def holder() -> None:
        async with slots.hold("a"):
            await holder_release.wait()

    async def waiter(tenant: str) -> str:
        async with slots.hold(tenant):
            return tenant

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(waiter("b"))
    later = asyncio.create_task(waiter("c"))
    await asyncio.sleep(0)
    cancelled.cancel()
    holder_release.set()
    assert await later == "c"
    await first
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert slots.held("b") == 0
    assert await asyncio.wait_for(waiter("d"), 1) == "d"  # the one slot is free again


async def test_the_refusal_reaches_the_client_as_resource_exhausted_with_quota_failure(
    store, registry_file, directory, engines
):
    engine = engines(store, _slow_services(), directory)
    settings = SearchCoreSettings(plaintext=True, auth_tokens_file=registry_file)
    running = await start_server([search_binding(engine)], settings, tenants=directory)
    channel = open_channel(f"127.0.0.1:{running.port}", token=ACME_TOKEN)
    stub = pb_grpc.SearchServiceStub(channel)
    spec = pb.SearchSpec(method=pb.SEARCH_METHOD_RANDOM, config_json=json.dumps(CONFIG))
    try:
        accepted = [
            (await stub.SubmitSearch(pb.SubmitSearchRequest(spec=spec, client_request_id=r)))
            for r in ("one", "two")
        ]
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.SubmitSearch(pb.SubmitSearchRequest(spec=spec, client_request_id="three"))
        again = await stub.SubmitSearch(pb.SubmitSearchRequest(spec=spec, client_request_id="two"))
    finally:
        await channel.close()
        await running.shutdown(0)
    assert again.search_id == accepted[1].search_id
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error.value)
    assert status is not None
    failure = error_details_pb2.QuotaFailure()
    assert [d.Unpack(failure) for d in status.details if d.Is(failure.DESCRIPTOR)] == [True]
    (violation,) = failure.violations
    assert (violation.subject, violation.quota_id, violation.quota_value) == (
        "tenant:acme",
        "running_searches",
        2,
    )
    assert len(store.list_searches("acme")) == 2
