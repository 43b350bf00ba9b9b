"""TrainerService over a real gRPC server: the stream, cancel, and bad requests."""

import hashlib
import io

import grpc
import pytest
import torch
from prometheus_client import CollectorRegistry, generate_latest

from nasforge.common.v1 import common_pb2
from nasforge.trainer_svc.v1 import trainer_svc_pb2 as pb
from nasforge.trainer_svc.v1 import trainer_svc_pb2_grpc as pb_grpc
from rpc.client import open_channel
from rpc.server import start_server
from tests.integration.trainer.conftest import model
from trainer_svc.__main__ import build_trainer
from trainer_svc.metrics import TrainerMetrics
from trainer_svc.server import trainer_binding


@pytest.fixture
async def service(settings):
    registry = CollectorRegistry()
    trainer = build_trainer(settings, TrainerMetrics(registry), ping=True)
    server_settings = settings.model_copy(update={"allow_anonymous_tenant": "acme"})
    running = await start_server(
        [trainer_binding(trainer, settings)], server_settings, registry=registry
    )
    channel = open_channel(f"127.0.0.1:{running.port}", token=None, default_timeout_seconds=300)
    yield pb_grpc.TrainerServiceStub(channel), registry
    await channel.close()
    await running.shutdown(1)
    launcher = trainer._training._launcher
    assert launcher.leftovers(expired_only=False) == []


def request(code, **fields):
    task = common_pb2.TaskSpec(
        task="img-classification",
        dataset="fashion-mnist",
        in_shape=[64, 1, 28, 28],
        hyperparameters={"lr": 0.05, "momentum": 0.9},
        transform="norm",
    )
    defaults = {
        "epochs": 1,
        "seed": 11,
        "train_samples": 3000,
        "validation_samples": 500,
        "test_samples": 1000,
    }
    return pb.TrainRequest(code=code, task=task, **{**defaults, **fields})


async def test_train_streams_accepted_epochs_and_finished(service):
    stub, registry = service
    replies = [reply async for reply in stub.Train(request(model("small_cnn"), epochs=2))]
    kinds = [reply.WhichOneof("event") for reply in replies]
    assert kinds == ["accepted", "epoch", "epoch", "finished"]
    assert len({reply.job_id for reply in replies}) == 1
    finished = replies[-1].finished
    assert finished.outcome == common_pb2.OUTCOME_SUCCESS and finished.seed == 11
    assert finished.scores.accuracy > 0.5 and finished.weights_path
    metrics = generate_latest(registry).decode()
    assert 'nasforge_trainer_jobs_total{outcome="success"} 1.0' in metrics
    assert "nasforge_trainer_epoch_duration_seconds_count 2.0" in metrics


async def test_a_trained_jobs_weights_are_read_back_as_recorded(service):
    """The finished event names the weights' sha256 and size, the image and the data; the
    weights read back through ReadWeights match and load as a state_dict."""
    stub, _ = service
    replies = [reply async for reply in stub.Train(request(model("small_cnn")))]
    finished = replies[-1].finished
    assert finished.outcome == common_pb2.OUTCOME_SUCCESS
    assert finished.weights_size_bytes > 0 and len(finished.weights_sha256) == 64
    assert finished.runtime_image_digest.startswith("sha256:")
    assert finished.dataset_digest.startswith("sha256:")
    chunks = [c async for c in stub.ReadWeights(pb.ReadWeightsRequest(job_id=replies[0].job_id))]
    data = b"".join(chunk.data for chunk in chunks)
    assert chunks[0].sha256 == finished.weights_sha256 == hashlib.sha256(data).hexdigest()
    assert chunks[0].size_bytes == len(data) == finished.weights_size_bytes
    state = torch.load(io.BytesIO(data), weights_only=True)
    assert all(isinstance(tensor, torch.Tensor) for tensor in state.values())


async def test_cancel_by_job_id(service):
    stub, _ = service
    hanging = model("small_cnn").replace(
        "        self.train()\n", "        self.train()\n        while True:\n            pass\n", 1
    )
    call = stub.Train(request(hanging))
    accepted = await call.read()
    reply = await stub.CancelTraining(pb.CancelTrainingRequest(job_id=accepted.job_id))
    assert reply.cancelled
    rest = [reply async for reply in call]
    assert rest[-1].finished.outcome == common_pb2.OUTCOME_CANCELLED
    unknown = await stub.CancelTraining(pb.CancelTrainingRequest(job_id="nope"))
    assert not unknown.cancelled


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"epochs": 0}, "epochs"),
        ({"code": ""}, "code is empty"),
        ({"seed": -1}, "not negative"),
    ],
)
async def test_bad_requests_are_invalid_argument(service, fields, fragment):
    stub, _ = service
    base = request(model("small_cnn"))
    for key, value in fields.items():
        setattr(base, key, value)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        async for _ in stub.Train(base):
            pass
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in error.value.details()


async def test_unknown_dataset_is_invalid_argument(service):
    stub, _ = service
    bad = request(model("small_cnn"))
    bad.task.dataset = "imagenet-21k"
    with pytest.raises(grpc.aio.AioRpcError) as error:
        async for _ in stub.Train(bad):
            pass
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown dataset" in error.value.details()
