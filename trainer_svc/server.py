"""The TrainerService servicer: pb -> domain, stream the trainer's events, domain -> pb."""

import asyncio
import logging

from nasforge.common.v1 import common_pb2
from nasforge.trainer_svc.v1 import trainer_svc_pb2 as pb
from nasforge.trainer_svc.v1 import trainer_svc_pb2_grpc as pb_grpc
from netapi.outcomes import MAX_CANDIDATE_BYTES, Stage
from netapi.tasks import IMG_CLASSIFICATION
from rpc.convert import dataset_to_pb, outcome_to_pb, stage_to_pb, task_spec_from_pb
from rpc.errors import InvalidArgument, NotFound
from rpc.server import ServiceBinding, bind
from rpc.tenant import current_tenant
from trainer_svc.config import TrainerSettings
from trainer_svc.core import Trainer
from trainer_svc.datasets.contents import DatasetError
from trainer_svc.events import Accepted, EpochDone, Finished, TrainJob
from trainer_svc.weights_store import WeightsNotFound

log = logging.getLogger(__name__)


def job_from_pb(request: pb.TrainRequest, settings: TrainerSettings) -> TrainJob:
    if len(request.code.encode("utf-8")) > MAX_CANDIDATE_BYTES:
        raise InvalidArgument(f"code is over {MAX_CANDIDATE_BYTES} bytes")
    if (
        request.epochs < 1
        or request.seed < 0
        or min(
            request.epoch_time_budget_ms,
            request.job_time_budget_ms,
            request.train_samples,
            request.validation_samples,
            request.test_samples,
        )
        < 0
    ):
        raise InvalidArgument("epochs must be positive; budgets, sizes and seed not negative")
    task = common_pb2.TaskSpec()
    task.CopyFrom(request.task)
    if not task.in_shape:  # the data decide C, H, W; only the batch matters here
        task.in_shape.extend([settings.batch_size, 3, 32, 32])
    if not task.out_shape and task.task == IMG_CLASSIFICATION:
        task.out_shape.append(10)
    return TrainJob(
        code=request.code,
        spec=task_spec_from_pb(task),
        epochs=request.epochs,
        seed=request.seed,
        epoch_budget_seconds=request.epoch_time_budget_ms / 1000,
        job_budget_seconds=request.job_time_budget_ms / 1000,
        train_samples=request.train_samples,
        validation_samples=request.validation_samples,
        test_samples=request.test_samples,
        candidate_id=request.candidate_id[:200],
    )


def finished_to_pb(event: Finished) -> pb.JobFinished:
    message = pb.JobFinished(
        outcome=outcome_to_pb(event.outcome),
        best_epoch=event.best_epoch,
        seed=event.seed,
        wall_time_ms=int(event.wall_time_ms),
        weights_path=event.weights_path,
        weights_sha256=event.weights_sha256,
        weights_size_bytes=event.weights_size_bytes,
        runtime_image_digest=event.runtime_image_digest,
        dataset_digest=event.dataset_digest,
        scores=common_pb2.Scores(**event.scores),
    )
    if event.error_message:
        message.error.CopyFrom(
            common_pb2.ErrorDetail(
                stage=stage_to_pb(Stage.TRAIN), type=event.error_type, message=event.error_message
            )
        )
    return message


class TrainerServicer(pb_grpc.TrainerServiceServicer):
    """Streams one training job per Train call; cancels by job id."""

    def __init__(self, trainer: Trainer, settings: TrainerSettings) -> None:
        self._trainer = trainer
        self._settings = settings

    async def Train(self, request, context):
        job = job_from_pb(request, self._settings)
        async for event in self._trainer.train(job, tenant=current_tenant()):
            if isinstance(event, Accepted):
                yield pb.TrainResponse(
                    job_id=event.job_id,
                    accepted=pb.JobAccepted(queue_position=event.queue_position, seed=event.seed),
                )
            elif isinstance(event, EpochDone):
                yield pb.TrainResponse(
                    job_id=event.job_id,
                    epoch=common_pb2.EpochResult(
                        epoch=event.epoch,
                        train_loss=event.train_loss,
                        validation_metric=event.validation_metric,
                        samples_per_second=event.samples_per_second,
                        wall_time_ms=int(event.wall_time_ms),
                    ),
                )
            else:
                yield pb.TrainResponse(job_id=event.job_id, finished=finished_to_pb(event))

    async def CancelTraining(self, request, context):
        if not request.job_id:
            raise InvalidArgument("job_id is empty")
        return pb.CancelTrainingResponse(cancelled=await self._trainer.cancel(request.job_id))

    async def ReadWeights(self, request, context):
        """The caller's job's weights in 1 MiB chunks, the first with size and sha256."""
        if not request.job_id:
            raise InvalidArgument("job_id is empty")
        store = self._trainer.weights
        try:
            kept = await asyncio.to_thread(store.find, request.job_id, tenant=current_tenant())
            chunks = store.chunks(kept)
            first = True
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                if first:
                    yield pb.ReadWeightsResponse(
                        data=chunk, size_bytes=kept.size_bytes, sha256=kept.sha256
                    )
                    first = False
                else:
                    yield pb.ReadWeightsResponse(data=chunk)
        except WeightsNotFound as exc:
            raise NotFound(str(exc)) from exc
        if first:  # an empty file: the size and sha256 still arrive
            yield pb.ReadWeightsResponse(size_bytes=kept.size_bytes, sha256=kept.sha256)

    async def AddDataset(self, request, context):
        for field in ("name", "format", "path"):
            if not getattr(request, field):
                raise InvalidArgument(f"{field} is empty")
        try:
            record = await asyncio.to_thread(
                self._trainer.datasets.add,
                request.name,
                request.format,
                request.path,
                fetch=request.download,
                again=request.replace,
            )
        except DatasetError as exc:
            raise InvalidArgument(str(exc)) from exc
        log.info("dataset %s registered (%s, %s)", record.name, record.format, record.digest[:12])
        return common_pb2.AddDatasetResponse(dataset=dataset_to_pb(record))

    async def GetDataset(self, request, context):
        try:
            record = await asyncio.to_thread(self._trainer.datasets.get, request.name)
        except DatasetError as exc:
            raise NotFound(str(exc)) from exc
        return common_pb2.GetDatasetResponse(dataset=dataset_to_pb(record))

    async def ListDatasets(self, request, context):
        records = await asyncio.to_thread(self._trainer.datasets.list)
        return common_pb2.ListDatasetsResponse(datasets=[dataset_to_pb(r) for r in records])


def trainer_binding(trainer: Trainer, settings: TrainerSettings) -> ServiceBinding:
    return bind(
        pb_grpc.add_TrainerServiceServicer_to_server,
        TrainerServicer(trainer, settings),
        pb.DESCRIPTOR.services_by_name["TrainerService"],
    )
