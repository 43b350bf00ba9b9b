"""Tenants on real containers: labels, warm containers per tenant, the per-tenant check limit
over a real gRPC server (with its QuotaFailure details), and the audit record of each check
matched against the engine's own events."""

import asyncio
import json
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from nasforge.common.v1 import common_pb2
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2 as pb
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2_grpc as pb_grpc
from netapi.code_policy import load_policy
from netapi.tasks import default_spec
from rpc.audit import AuditLog, read_records, source_md5, verify
from rpc.client import open_channel
from rpc.server import start_server
from rpc.tenants import TenantDirectory, hash_token
from sandbox_runner.containers import MANAGED_BY, TENANT
from sandbox_runner.core import SandboxChecker
from sandbox_runner.server import sandbox_binding
from tests.integration.sandbox.conftest import GOOD_CLASSIFIER, corpus

TOKENS = {"acme": "tok-acme-tenancy", "globex": "tok-globex-tenancy"}
SPEC = default_spec("img-classification")


def containers_of(launcher, tenant: str | None = None) -> list[dict]:
    """The engine's inspect of this namespace's containers (of one tenant if named)."""
    labels = [f"{MANAGED_BY}={launcher.namespace}"]
    if tenant is not None:
        labels.append(f"{TENANT}={tenant}")
    api = launcher._client.api
    return [api.inspect_container(c["Id"]) for c in api.containers(filters={"label": labels})]


def created_by_engine(launcher, since: float) -> dict[str, dict]:
    """Container id -> labels, from the engine's create events of this namespace."""
    events = launcher._client.api.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={
            "type": "container",
            "event": "create",
            "label": MANAGED_BY + "=" + launcher.namespace,
        },
        decode=True,
    )
    return {event["id"]: event["Actor"]["Attributes"] for event in events}


async def wait_for(condition, timeout_seconds: float) -> float:
    """Seconds until ``condition()`` held; fails the test at the timeout."""
    started = time.monotonic()
    for _ in range(int(timeout_seconds / 0.02) + 1):
        if condition():
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout_seconds}s")


def assert_locked_down_without_volumes(inspected: dict) -> None:
    assert inspected["Mounts"] == []  # no volume, no bind: nothing writable but the tmpfs
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    assert set(inspected["HostConfig"]["Tmpfs"]) == {"/tmp"}


async def test_warm_containers_are_labelled_and_kept_per_tenant(settings, launcher, tmp_path):
    audit = AuditLog(tmp_path / "audit.log", "sandbox_runner")
    tuned = settings.model_copy(update={"pool_size": 2, "pool_per_tenant": 2})
    checker = SandboxChecker(tuned, launcher, load_policy(tuned), audit=audit)
    await checker.start()
    since = time.time()
    try:
        first = await checker.check(corpus(GOOD_CLASSIFIER), SPEC, tenant="acme")
        assert first.mode == "cold" and first.outcome.value == "success"
        assert await checker.pool.wait_full(120, "acme")
        ready = containers_of(launcher)
        assert len(ready) == 2
        for inspected in ready:
            labels = inspected["Config"]["Labels"]
            assert labels[TENANT] == "acme" and labels["org.nasforge.role"] == "check"
            assert_locked_down_without_volumes(inspected)

        other = await checker.check(corpus(GOOD_CLASSIFIER), SPEC, tenant="globex")
        assert other.mode == "cold"  # acme's warm containers are not handed to globex
        again = await checker.check(corpus(GOOD_CLASSIFIER), SPEC, tenant="acme")
        assert again.mode == "warm"
        assert await checker.pool.wait_full(120, "globex")
        # two tenants share the two places; used and evicted containers are being removed
        await wait_for(lambda: checker.pool.ready_for("acme") == 1, 120)
        assert (checker.pool.ready_for("acme"), checker.pool.ready_for("globex")) == (1, 1)
        await wait_for(lambda: len(containers_of(launcher)) == 2, 30)
        assert {c["Config"]["Labels"][TENANT] for c in containers_of(launcher)} == {
            "acme",
            "globex",
        }
    finally:
        await checker.close()
        audit.close()

    records = list(read_records(tmp_path / "audit.log"))
    assert verify(tmp_path / "audit.log") == (3, None)
    assert [(r["tenant"], r["mode"]) for r in records] == [
        ("acme", "cold"),
        ("globex", "cold"),
        ("acme", "warm"),
    ]
    created = created_by_engine(launcher, since)
    for record in records:
        (full_id,) = [cid for cid in created if cid.startswith(record["container_id"])]
        assert created[full_id][TENANT] == record["tenant"]
        assert record["code_md5"] == source_md5(corpus(GOOD_CLASSIFIER))
        assert record["image"] == settings.image and record["outcome"] == "success"


@pytest.fixture
async def served(settings, launcher, tmp_path):
    """A SandboxService whose limits come from a real tenant registry file."""
    registry = tmp_path / "tenants.json"
    registry.write_text(
        json.dumps(
            {
                "tenants": {
                    "acme": {"quotas": {"concurrent_checks": 1}},
                    "globex": {"quotas": {}},
                },
                "tokens": [
                    {"sha256": hash_token(token), "tenant": tenant}
                    for tenant, token in TOKENS.items()
                ],
            }
        )
    )
    directory = TenantDirectory.from_file(registry)
    audit = AuditLog(tmp_path / "audit.log", "sandbox_runner")
    tuned = settings.model_copy(
        update={"max_concurrent_checks": 3, "per_tenant_concurrency": 2, "pool_size": 0}
    )
    checker = SandboxChecker(
        tuned, launcher, load_policy(tuned), quotas=directory.quotas, audit=audit
    )
    await checker.start()
    server_settings = tuned.model_copy(update={"auth_tokens_file": registry, "plaintext": True})
    running = await start_server([sandbox_binding(checker)], server_settings)
    channels = {
        tenant: open_channel(f"127.0.0.1:{running.port}", token=token, default_timeout_seconds=120)
        for tenant, token in TOKENS.items()
    }
    stubs = {tenant: pb_grpc.SandboxServiceStub(channel) for tenant, channel in channels.items()}
    yield stubs, checker
    for channel in channels.values():
        await channel.close()
    await running.shutdown(1)
    await checker.close()
    audit.close()
    assert launcher.leftovers(expired_only=False) == []


async def call(stub, request):
    return await stub.CheckCandidate(request)


def check_request(candidate_id: str) -> pb.CheckCandidateRequest:
    return pb.CheckCandidateRequest(
        code=corpus(GOOD_CLASSIFIER),
        task=common_pb2.TaskSpec(task="img-classification"),
        candidate_id=candidate_id,
    )


async def test_a_tenant_at_its_limit_is_refused_and_does_not_slow_another(
    served, launcher, tmp_path
):
    stubs, checker = served
    since = time.time()
    first = asyncio.create_task(call(stubs["acme"], check_request("acme-1")))
    await wait_for(lambda: checker.running == 1, 30)

    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stubs["acme"].CheckCandidate(check_request("acme-2"))
    assert time.monotonic() - started < 2.0  # refused at once, not queued
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(refused.value)
    failures = [d for d in status.details if d.Is(error_details_pb2.QuotaFailure.DESCRIPTOR)]
    quota = error_details_pb2.QuotaFailure()
    failures[0].Unpack(quota)
    (violation,) = quota.violations
    assert violation.subject == "tenant:acme"
    assert violation.quota_id == "concurrent_checks"
    assert violation.quota_value == 1
    assert any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)

    other = asyncio.create_task(call(stubs["globex"], check_request("globex-1")))
    took = await wait_for(lambda: checker.running == 2, 10)
    assert took < 1.0  # admitted at once: acme at its limit holds no place globex waits for
    await wait_for(lambda: containers_of(launcher, "globex"), 30)
    assert not first.done()  # globex's container runs while acme's check still does

    replies = await asyncio.gather(first, other)
    assert all(reply.outcome == common_pb2.OUTCOME_SUCCESS for reply in replies)

    await asyncio.sleep(0.5)  # the audit record is written before the reply; be generous
    records = {r["candidate_id"]: r for r in read_records(tmp_path / "audit.log")}
    assert set(records) == {"acme-1", "globex-1"}  # the refused check never ran
    created = created_by_engine(launcher, since)
    for candidate_id, tenant in (("acme-1", "acme"), ("globex-1", "globex")):
        record = records[candidate_id]
        assert record["tenant"] == tenant and record["mode"] == "cold"
        (full_id,) = [cid for cid in created if cid.startswith(record["container_id"])]
        assert created[full_id][TENANT] == tenant
