"""search_core's audit records: a submit, a pause, a resume and a cancel through a real gRPC
server (the pause and resume with the CLI's client), and the
record of generated code, joined to the other services' records by candidate id and MD5."""

import asyncio
import hashlib
import json

import pytest

from cli.search_client import SearchClient
from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from rpc.audit import AuditLog, read_records, source_md5, verify
from rpc.client import open_channel
from rpc.server import start_server
from search_core.config import SearchCoreSettings
from search_core.domain import CandidateRecord, CandidateStatus, Generator, SearchRecord, Tenant
from search_core.engine.answers import Attempt
from search_core.engine.context import CandidateContext
from search_core.engine.evaluation import _accept_code
from search_core.engine.runner import SearchEngine
from search_core.search_config import parse_config
from search_core.server import search_binding
from search_core.store import open_store
from search_core.store.async_store import AsyncStore
from tests.unit.search_core.engine.scripted import ScriptedServices, method_factory, model_code

CONFIG = {"method": "random", "generator": "template", "max_candidates": 1, "training": {}}


class NeverFinishing:
    """Proposals whose search stays running until cancelled (the test's services hang)."""

    def __init__(self, config=None, tenant=None) -> None:
        pass

    def propose(self, slot, rng, history):
        from search_core.engine.proposals import Proposal

        return Proposal(
            prefix="T", generator=Generator.TEMPLATE, code=model_code(7), hyperparameters={}
        )


@pytest.fixture
def store(tmp_path):
    instance = open_store(str(tmp_path / "store.db"))
    yield instance
    instance.close()


async def test_submit_and_cancel_are_audited(store, tmp_path):
    audit = AuditLog(tmp_path / "audit.log", "search_core")
    settings = SearchCoreSettings(allow_anonymous_tenant="acme", plaintext=True)
    services = ScriptedServices()
    services.train_delay = 60  # the search is still running when it is paused
    engine = SearchEngine(
        store, services, settings, method_factory(lambda config, tenant: NeverFinishing())
    )
    await engine.start()
    running = await start_server([search_binding(engine, audit)], settings)
    channel = open_channel(f"127.0.0.1:{running.port}", token=None)
    stub = pb_grpc.SearchServiceStub(channel)
    try:
        spec = pb.SearchSpec(method=pb.SEARCH_METHOD_RANDOM, config_json=json.dumps(CONFIG))
        reply = await stub.SubmitSearch(pb.SubmitSearchRequest(spec=spec, client_request_id="r-1"))
        async with SearchClient(f"127.0.0.1:{running.port}", None, tls=None) as client:
            assert await client.control("pause", reply.search_id) == "paused"
            assert await client.control("resume", reply.search_id) == "queued"
        await stub.CancelSearch(pb.CancelSearchRequest(search_id=reply.search_id))
    finally:
        await channel.close()
        await running.shutdown(0)
        await engine.close()
        audit.close()
    submitted, paused, resumed, cancelled = read_records(tmp_path / "audit.log")
    assert verify(tmp_path / "audit.log") == (4, None)
    assert [paused["event"], resumed["event"]] == ["search_paused", "search_resumed"]
    assert (paused["state"], resumed["state"]) == ("paused", "queued")
    config = parse_config(CONFIG).to_dict()
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    assert submitted == {
        **submitted,
        "service": "search_core",
        "event": "search_submitted",
        "tenant": "acme",
        "search_id": reply.search_id,
        "method": "random",
        "generator": "template",
        "model": "",
        "config_sha256": hashlib.sha256(canonical).hexdigest(),
        "client_request_id": "r-1",
    }
    assert cancelled["event"] == "search_cancelled"
    assert (cancelled["tenant"], cancelled["search_id"]) == ("acme", reply.search_id)


async def test_generated_code_is_audited_with_its_model(store, tmp_path):
    audit = AuditLog(tmp_path / "audit.log", "search_core")
    store.ensure_tenant(Tenant("acme"))
    store.create_search(
        SearchRecord(search_id="s-1", tenant_id="acme", method="random", config=CONFIG)
    )
    candidate = CandidateRecord(
        candidate_id="c-1",
        search_id="s-1",
        tenant_id="acme",
        slot=0,
        prompt_variant="v2",
        model="qwen-coder",
        generator=Generator.LLM,
        name="L",
    )
    store.put_candidate(candidate)

    async def nothing(*args):
        pass

    ctx = CandidateContext(
        config=parse_config(CONFIG),
        store=AsyncStore(store),
        services=None,
        call=None,
        dedup_lock=asyncio.Lock(),
        on_finished=nothing,
        on_epoch=nothing,
        audit=audit,
    )
    await _accept_code(ctx, candidate, Attempt(model_code(3)), {})
    audit.close()
    assert candidate.status is CandidateStatus.GENERATED
    (record,) = read_records(tmp_path / "audit.log")
    assert record["event"] == "candidate_generated" and record["tenant"] == "acme"
    assert (record["search_id"], record["candidate_id"]) == ("s-1", "c-1")
    assert (record["model"], record["prompt_variant"], record["generator"]) == (
        "qwen-coder",
        "v2",
        "llm",
    )
    assert record["code_md5"] == source_md5(model_code(3))  # what sandbox and trainer record
    assert record["identity_md5"] == candidate.code_md5 and record["duplicate_of"] == ""
