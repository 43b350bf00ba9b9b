"""Tenants on real training containers: labels on containers and /out volumes, one /out per
job, the per-tenant job limit over a real gRPC server (QuotaFailure details), and the audit
record of each job matched against the engine's own events."""

import asyncio
import json
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from nasforge.common.v1 import common_pb2
from nasforge.trainer_svc.v1 import trainer_svc_pb2 as pb
from nasforge.trainer_svc.v1 import trainer_svc_pb2_grpc as pb_grpc
from rpc.audit import AuditLog, read_records, source_md5, verify
from rpc.client import open_channel
from rpc.server import start_server
from rpc.tenants import TenantDirectory, hash_token
from sandbox_runner.containers import MANAGED_BY, TENANT, Launcher, docker_client
from tests.integration.trainer.conftest import model
from trainer_svc.container_run import ContainerTraining
from trainer_svc.core import Trainer
from trainer_svc.server import trainer_binding

TOKENS = {"acme": "tok-acme-train-tenancy", "globex": "tok-globex-train-tenancy"}


@pytest.fixture
async def served(settings, tmp_path):
    registry = tmp_path / "tenants.json"
    registry.write_text(
        json.dumps(
            {
                "tenants": {"acme": {"quotas": {"concurrent_trainings": 1}}, "globex": {}},
                "tokens": [
                    {"sha256": hash_token(token), "tenant": tenant}
                    for tenant, token in TOKENS.items()
                ],
            }
        )
    )
    audit = AuditLog(tmp_path / "audit.log", "trainer_svc")
    tuned = settings.model_copy(update={"max_concurrent_jobs": 2, "max_queued_jobs": 2, "cpus": 1})
    client = docker_client()
    launcher = Launcher(client, tuned.namespace, tuned.output_cap_bytes)
    trainer = Trainer(
        tuned,
        ContainerTraining(tuned, launcher, client),
        quotas=TenantDirectory.from_file(registry).quotas,
        audit=audit,
    )
    server_settings = tuned.model_copy(update={"auth_tokens_file": registry, "plaintext": True})
    running = await start_server([trainer_binding(trainer, tuned)], server_settings)
    channels = {
        tenant: open_channel(f"127.0.0.1:{running.port}", token=token, default_timeout_seconds=300)
        for tenant, token in TOKENS.items()
    }
    yield {tenant: pb_grpc.TrainerServiceStub(c) for tenant, c in channels.items()}, launcher
    for channel in channels.values():
        await channel.close()
    await running.shutdown(1)
    audit.close()
    leftovers = launcher.leftovers(expired_only=False)
    launcher.reap(expired_only=False)
    assert leftovers == [], f"containers left behind: {leftovers}"


def request(candidate_id: str) -> pb.TrainRequest:
    task = common_pb2.TaskSpec(
        task="img-classification",
        dataset="fashion-mnist",
        in_shape=[64, 1, 28, 28],
        hyperparameters={"lr": 0.05, "momentum": 0.9},
        transform="norm",
    )
    return pb.TrainRequest(
        code=model("small_cnn"),
        task=task,
        epochs=1,
        seed=5,
        train_samples=3000,
        validation_samples=500,
        test_samples=1000,
        candidate_id=candidate_id,
    )


async def replies(stub, candidate_id: str) -> list[pb.TrainResponse]:
    return [reply async for reply in stub.Train(request(candidate_id))]


def containers_of(launcher, tenant: str) -> list[dict]:
    api = launcher._client.api
    labels = [f"{MANAGED_BY}={launcher.namespace}", f"{TENANT}={tenant}"]
    return [api.inspect_container(c["Id"]) for c in api.containers(filters={"label": labels})]


async def wait_for(condition, timeout_seconds: float):
    for _ in range(int(timeout_seconds / 0.05) + 1):
        if value := condition():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout_seconds}s")


async def test_tenants_jobs_are_labelled_limited_isolated_and_audited(served, tmp_path):
    stubs, launcher = served
    since = time.time()
    first = asyncio.create_task(replies(stubs["acme"], "acme-1"))
    (acme_container,) = await wait_for(lambda: containers_of(launcher, "acme"), 120)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await replies(stubs["acme"], "acme-2")
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(refused.value)
    quota = error_details_pb2.QuotaFailure()
    next(d for d in status.details if d.Is(quota.DESCRIPTOR)).Unpack(quota)
    (violation,) = quota.violations
    assert (violation.subject, violation.quota_id, violation.quota_value) == (
        "tenant:acme",
        "concurrent_trainings",
        1,
    )

    second = asyncio.create_task(replies(stubs["globex"], "globex-1"))
    (globex_container,) = await wait_for(lambda: containers_of(launcher, "globex"), 120)
    assert not first.done()  # acme at its limit did not hold globex back

    api = launcher._client.api
    out_volumes = []
    for inspected, tenant in ((acme_container, "acme"), (globex_container, "globex")):
        mounts = {mount["Destination"]: mount for mount in inspected["Mounts"]}
        assert set(mounts) == {"/data", "/out"}
        assert mounts["/data"]["RW"] is False
        assert mounts["/out"]["Type"] == "volume" and mounts["/out"]["RW"] is True
        job = inspected["Config"]["Labels"]["org.nasforge.job"]
        assert mounts["/out"]["Name"] == f"nasforge-out-{job}"
        assert inspected["Config"]["Labels"][TENANT] == tenant
        volume = api.inspect_volume(mounts["/out"]["Name"])
        assert volume["Labels"][TENANT] == tenant
        assert volume["Labels"]["org.nasforge.job"] == job
        out_volumes.append(mounts["/out"]["Name"])
    assert out_volumes[0] != out_volumes[1]  # each job writes to its own /out, nothing shared
    users = api.containers(filters={"volume": out_volumes[0]})
    assert [c["Id"] for c in users] == [acme_container["Id"]]

    acme, globex = await asyncio.gather(first, second)
    for stream in (acme, globex):
        assert stream[-1].finished.outcome == common_pb2.OUTCOME_SUCCESS

    assert verify(tmp_path / "audit.log") == (2, None)
    records = {r["candidate_id"]: r for r in read_records(tmp_path / "audit.log")}
    assert set(records) == {"acme-1", "globex-1"}  # the refused job never ran
    events = api.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "create"},
        decode=True,
    )
    created = {event["id"]: event["Actor"]["Attributes"] for event in events}
    for candidate_id, stream, inspected in (
        ("acme-1", acme, acme_container),
        ("globex-1", globex, globex_container),
    ):
        record = records[candidate_id]
        assert record["event"] == "training_ran" and record["job_id"] == stream[0].job_id
        assert inspected["Id"].startswith(record["container_id"])
        assert created[inspected["Id"]][TENANT] == record["tenant"]
        assert record["code_md5"] == source_md5(model("small_cnn"))
        assert record["outcome"] == "success" and record["gpu"] is False
        assert record["wall_ms"] > 0
