"""ReadWeights over a real gRPC server: a job's weights in 1 MiB chunks (size and sha256 on
the first), NOT_FOUND that says "removed by retention" or "never kept", and a job id that
is no id refused without touching a path. The trainer is the real one, without Docker: the
weights are kept by its own WeightsStore, as a finished job's are."""

import hashlib
import io
import json
import os

import grpc
import pytest
import torch

from nasforge.trainer_svc.v1 import trainer_svc_pb2 as pb
from nasforge.trainer_svc.v1 import trainer_svc_pb2_grpc as pb_grpc
from rpc.client import open_channel
from rpc.server import start_server
from rpc.tenants import hash_token
from tests.unit.trainer_svc.test_weights_store import state_dict_bytes
from trainer_svc.config import TrainerSettings
from trainer_svc.container_run import ContainerTraining
from trainer_svc.core import Trainer
from trainer_svc.server import trainer_binding
from trainer_svc.weights_store import CHUNK_BYTES

TOKENS = {"acme": "tok-acme-read-weights", "globex": "tok-globex-read-weights"}


@pytest.fixture
async def served(tmp_path):
    """(stubs by tenant, the trainer) on a loopback port, weights kept at most 2."""
    registry = tmp_path / "tenants.json"
    registry.write_text(
        json.dumps(
            {
                "tenants": {"acme": {}, "globex": {}},
                "tokens": [{"sha256": hash_token(t), "tenant": n} for n, t in TOKENS.items()],
            }
        )
    )
    settings = TrainerSettings(
        weights_root=tmp_path / "weights",
        registry_root=tmp_path / "datasets",
        weights_retention_count=2,
        auth_tokens_file=registry,
        plaintext=True,
    )
    trainer = Trainer(settings, ContainerTraining(settings, launcher=None, client=None))
    running = await start_server([trainer_binding(trainer, settings)], settings)
    channels = {
        tenant: open_channel(f"127.0.0.1:{running.port}", token=token, default_timeout_seconds=30)
        for tenant, token in TOKENS.items()
    }
    yield {tenant: pb_grpc.TrainerServiceStub(c) for tenant, c in channels.items()}, trainer
    for channel in channels.values():
        await channel.close()
    await running.shutdown(0)


async def _read(stub, job_id: str) -> list[pb.ReadWeightsResponse]:
    return [reply async for reply in stub.ReadWeights(pb.ReadWeightsRequest(job_id=job_id))]


async def test_a_jobs_weights_arrive_whole_with_their_sha256(served):
    stubs, trainer = served
    data = state_dict_bytes(64) + b"\0" * (CHUNK_BYTES + 5)  # over one chunk
    kept = trainer.weights.keep("a" * 32, data, tenant="acme")
    replies = await _read(stubs["acme"], "a" * 32)
    assert [len(r.data) for r in replies] == [CHUNK_BYTES, len(data) - CHUNK_BYTES]
    assert replies[0].size_bytes == len(data) and replies[0].sha256 == kept.sha256
    assert replies[1].sha256 == "" and replies[1].size_bytes == 0  # first chunk only
    joined = b"".join(r.data for r in replies)
    assert hashlib.sha256(joined).hexdigest() == kept.sha256


async def test_the_state_dict_loads_with_weights_only(served):
    stubs, trainer = served
    trainer.weights.keep("b" * 32, state_dict_bytes(16), tenant="acme")
    joined = b"".join(r.data for r in await _read(stubs["acme"], "b" * 32))
    assert torch.load(io.BytesIO(joined), weights_only=True)["weight"].shape == (10, 16)


async def _refusal(stub, job_id: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _read(stub, job_id)
    return refused.value


async def test_weights_removed_by_retention_say_so(served):
    stubs, trainer = served
    for age, job in enumerate(("j1", "j2", "j3")):
        trainer.weights.keep(job, state_dict_bytes(8), tenant="acme")
        os.utime(trainer.weights.root / f"{job}.pt", ns=(10**18 + age,) * 2)
    trainer.weights.keep("j4", state_dict_bytes(8), tenant="acme")
    for job in ("j1", "j2"):
        error = await _refusal(stubs["acme"], job)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert "removed by the trainer's retention setting" in error.details()
        assert "weights_retention_count=2" in error.details()
    assert len(await _read(stubs["acme"], "j4")) == 1


async def test_another_tenants_weights_are_not_found_like_unknown_ones(served):
    stubs, trainer = served
    trainer.weights.keep("c" * 32, state_dict_bytes(8), tenant="acme")
    theirs = await _refusal(stubs["globex"], "c" * 32)
    unknown = await _refusal(stubs["globex"], "d" * 32)
    assert theirs.code() == unknown.code() == grpc.StatusCode.NOT_FOUND
    assert theirs.details() == f"the trainer kept no weights for job {'c' * 32}"


@pytest.mark.parametrize(
    "job_id, code",
    [
        ("", grpc.StatusCode.INVALID_ARGUMENT),
        ("../tenants", grpc.StatusCode.NOT_FOUND),
        ("..", grpc.StatusCode.NOT_FOUND),
        ("/etc/passwd", grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_job_ids_that_are_no_ids_are_refused(served, job_id, code):
    stubs, _ = served
    error = await _refusal(stubs["acme"], job_id)
    assert error.code() == code
    assert ("is empty" if not job_id else "is not a job id") in error.details()
