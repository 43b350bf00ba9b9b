"""Attacks on the bounds: a burst of submits against the running-searches quota across two
search_core replicas sharing one store, and a flood of watch streams against a server's bound
of calls at once. No containers: real search_core processes and servers, dependencies absent
(the searches wait, paused on the gateway, which still counts against the quota)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry

from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from rpc.client import open_channel
from rpc.healthcheck import grpc_healthy
from rpc.server import start_server
from rpc.tenants import Quotas, TenantDirectory, edit_registry
from search_core.config import SearchCoreSettings
from search_core.engine.runner import SearchEngine
from search_core.metrics import SearchMetrics
from search_core.server import search_binding
from search_core.store import open_store
from tests.unit.search_core.engine.scripted import ScriptedServices, method_factory
from tests.unit.search_core.engine.test_search_quotas import DistinctTemplates

TOKEN = "tok-bounds-attacker"
QUOTA = 2
CONFIG = {"method": "fairnad", "generator": "llm", "max_candidates": 1, "training": {}}
SPEC = pb.SearchSpec(method=pb.SEARCH_METHOD_FAIRNAD, config_json=json.dumps(CONFIG))
NOWHERE = "127.0.0.1:9"  # nothing listens: every dependency call fails, searches pause


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.json"
    with edit_registry(path) as registry:
        registry.add_tenant("mallory", Quotas(running_searches=QUOTA))
        registry.add_token("mallory", token=TOKEN)
    return path


def _start_replica(tmp_path: Path, registry_file: Path, name: str) -> tuple[subprocess.Popen, int]:
    """`python -m search_core` on the shared store; (process, port)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NASFORGE_")},
        "NASFORGE_SEARCH_PLAINTEXT": "true",
        "NASFORGE_SEARCH_PORT": "0",
        "NASFORGE_SEARCH_STORE_URL": str(tmp_path / "store.db"),
        "NASFORGE_SEARCH_AUTH_TOKENS_FILE": str(registry_file),
        "NASFORGE_SEARCH_GATEWAY_TARGET": NOWHERE,
        "NASFORGE_SEARCH_SANDBOX_TARGET": NOWHERE,
        "NASFORGE_SEARCH_TRAINER_TARGET": NOWHERE,
    }
    out = tmp_path / f"{name}.out"
    with out.open("w") as stdout, (tmp_path / f"{name}.log").open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "search_core"], env=env, stdout=stdout, stderr=stderr
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        for line in out.read_text().splitlines():
            if line.startswith("search_core listening on port "):
                return process, int(line.rsplit(" ", 1)[1])
        time.sleep(0.1)
    process.kill()
    log = (tmp_path / f"{name}.log").read_text()
    pytest.fail(f"replica {name} did not start:\n{log[-3000:]}")


@pytest.fixture
def two_replicas(tmp_path: Path, registry_file: Path) -> Iterator[list[int]]:
    """Two search_core processes on one SQLite store: their ports."""
    started = []
    try:
        for name in ("a", "b"):
            started.append(_start_replica(tmp_path, registry_file, name))
        yield [port for _, port in started]
    finally:
        for process, _ in started:
            process.send_signal(signal.SIGTERM)
        for process, _ in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


async def test_a_burst_of_submits_over_two_replicas_gets_exactly_the_quota(two_replicas, tmp_path):
    """Exactly the quota is accepted, the rest get RESOURCE_EXHAUSTED with its QuotaFailure,
    and a retry is idempotent across replicas. The race itself (a count and an insert in
    separate transactions) is narrow over gRPC here; the store contract test
    test_concurrent_creates_never_pass_the_active_limit is the one that reliably catches it."""
    channels = [open_channel(f"127.0.0.1:{port}", token=TOKEN) for port in two_replicas]
    stubs = [pb_grpc.SearchServiceStub(channel) for channel in channels]

    async def submit(index: int):
        request = pb.SubmitSearchRequest(spec=SPEC, client_request_id=f"burst-{index}")
        try:
            return await stubs[index % 2].SubmitSearch(request)
        except grpc.aio.AioRpcError as refused:
            return refused

    try:
        # Connected first, so that the burst reaches both replicas at the same moment.
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        results = await asyncio.gather(*(submit(i) for i in range(20)))
        accepted = [(i, r) for i, r in enumerate(results) if isinstance(r, pb.SubmitSearchResponse)]
        # A retry of an accepted submit, to the other replica, answers with its search.
        index, first = accepted[0]
        retry = pb.SubmitSearchRequest(spec=SPEC, client_request_id=f"burst-{index}")
        again = await stubs[(index + 1) % 2].SubmitSearch(retry)
    finally:
        for channel in channels:
            await channel.close()

    assert len(accepted) == QUOTA, [getattr(r, "code", lambda: "OK")() for r in results]
    assert again.search_id == first.search_id
    refusals = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(refusals) == 20 - QUOTA
    for refused in refusals:
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        status = rpc_status.from_call(refused)
        failure = error_details_pb2.QuotaFailure()
        assert [d.Unpack(failure) for d in status.details if d.Is(failure.DESCRIPTOR)] == [True]
        (violation,) = failure.violations
        assert (violation.subject, violation.quota_id, violation.quota_value) == (
            "tenant:mallory",
            "running_searches",
            QUOTA,
        )
    with open_store(str(tmp_path / "store.db")) as store:
        assert len(store.list_searches("mallory")) == QUOTA


async def test_a_flood_of_watch_streams_is_bounded_and_the_service_comes_back(
    tmp_path, registry_file
):
    """Each open WatchSearch holds one of the server's places until it ends: the attacker
    fills them all, the next call is refused at once, the health probe still passes, and
    the service answers again as soon as the attacker lets go."""
    bound = 4
    directory = TenantDirectory.from_file(registry_file, check_interval_seconds=0)
    store = open_store(str(tmp_path / "store.db"))
    services = ScriptedServices()
    services.train_delay = 60  # the watched search never ends during the test
    engine = SearchEngine(
        store,
        services,
        SearchCoreSettings(max_in_flight_per_search=1),
        method_factory(DistinctTemplates),
        SearchMetrics(CollectorRegistry(), tenants=[], models=[], prompt_variants=["v1"]),
        quotas=directory.quotas,
    )
    settings = SearchCoreSettings(
        plaintext=True, auth_tokens_file=registry_file, max_concurrent_rpcs=bound
    )
    running = await start_server([search_binding(engine)], settings, tenants=directory)
    channel = open_channel(f"127.0.0.1:{running.port}", token=TOKEN)
    stub = pb_grpc.SearchServiceStub(channel)
    watches = []
    try:
        search_id = (await stub.SubmitSearch(pb.SubmitSearchRequest(spec=SPEC))).search_id
        request = pb.WatchSearchRequest(search_id=search_id)
        for _ in range(bound):
            watch = stub.WatchSearch(request)
            await watch.read()  # its first event: the stream is open and holds a place
            watches.append(watch)

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetSearch(pb.GetSearchRequest(search_id=search_id))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        healthy, detail = await asyncio.to_thread(grpc_healthy, f"127.0.0.1:{running.port}")
        assert healthy, detail

        for watch in watches:
            watch.cancel()
        for _ in range(100):  # the places come back as the server sees the cancellations
            try:
                reply = await stub.GetSearch(pb.GetSearchRequest(search_id=search_id))
                break
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the server did not serve again after the streams were cancelled")
        assert reply.search.search_id == search_id
    finally:
        for watch in watches:
            watch.cancel()
        await channel.close()
        await running.shutdown(0)
        await engine.close()
        store.close()
