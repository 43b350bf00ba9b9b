"""The trainer: a bounded queue of training jobs, each streamed as events, cancellable."""

import asyncio
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Protocol

from netapi.outcomes import Outcome
from netapi.tasks import TaskSpecError, validate
from rpc.errors import InvalidArgument, QuotaExceeded
from trainer_svc.config import TrainerSettings
from trainer_svc.container_run import Cancellation, ContainerTraining
from trainer_svc.events import Accepted, EpochDone, Finished, TrainEvent, TrainJob
from trainer_svc.prepare import DATASETS, DatasetError, PreparedData, Sizes, prepare

log = logging.getLogger(__name__)


class TrainingObserver(Protocol):
    """Where the trainer reports what it did (trainer_svc.metrics implements it)."""

    def queue_changed(self, depth: int) -> None: ...

    def epoch_finished(self, event: EpochDone) -> None: ...

    def job_finished(self, event: Finished) -> None: ...


class _NoObserver:
    def queue_changed(self, depth: int) -> None:
        pass

    def epoch_finished(self, event: EpochDone) -> None:
        pass

    def job_finished(self, event: Finished) -> None:
        pass


class Trainer:
    """Admits jobs up to the queue bound, runs a bounded number at once, streams events."""

    def __init__(
        self,
        settings: TrainerSettings,
        training: ContainerTraining,
        observer: TrainingObserver | None = None,
    ) -> None:
        self._settings = settings
        self._training = training
        self._observer = observer or _NoObserver()
        self._slots = asyncio.Semaphore(settings.max_concurrent_jobs)
        self._jobs: dict[str, Cancellation] = {}
        self._waiting = 0

    def validate(self, job: TrainJob) -> TrainJob:
        """The job with defaults filled in; InvalidArgument for what cannot run."""
        if job.spec.dataset not in DATASETS:
            raise InvalidArgument(
                f"unknown dataset {job.spec.dataset!r}; known: {', '.join(DATASETS)}"
            )
        if not 1 <= job.epochs <= self._settings.max_epochs:
            raise InvalidArgument(f"epochs must be in 1..{self._settings.max_epochs}")
        if not job.code.strip():
            raise InvalidArgument("code is empty")
        return replace(
            job,
            seed=job.seed or secrets.randbelow(2**31 - 1) + 1,
            epoch_budget_seconds=job.epoch_budget_seconds or self._settings.epoch_budget_seconds,
            job_budget_seconds=job.job_budget_seconds or self._settings.job_budget_seconds,
            train_samples=job.train_samples or self._settings.train_samples,
            validation_samples=job.validation_samples or self._settings.validation_samples,
            test_samples=job.test_samples or self._settings.test_samples,
        )

    def _prepare(self, job: TrainJob) -> PreparedData:
        sizes = Sizes(job.train_samples, job.validation_samples, job.test_samples)
        try:
            return prepare(
                job.spec.dataset,
                job.spec.transform,
                sizes,
                self._settings.cache_root,
                self._settings.data_root,
            )
        except (DatasetError, ValueError) as exc:
            raise InvalidArgument(f"dataset: {exc}") from exc

    def _shaped(self, job: TrainJob, prepared: PreparedData) -> TrainJob:
        """The task spec with the shapes the data decide (batch kept from the request)."""
        in_shape = (job.spec.in_shape[0], *prepared.in_shape)
        try:
            spec = validate(replace(job.spec, in_shape=in_shape, out_shape=(prepared.num_outputs,)))
        except TaskSpecError as exc:
            raise InvalidArgument(f"task: {exc}") from exc
        return replace(job, spec=spec)

    async def cancel(self, job_id: str) -> bool:
        cancellation = self._jobs.get(job_id)
        if cancellation is None:
            return False
        await asyncio.to_thread(cancellation.request)
        return True

    async def train(self, job: TrainJob, *, tenant: str) -> AsyncIterator[TrainEvent]:
        """Accepted, then one EpochDone per epoch, then Finished (always last)."""
        job = self.validate(job)
        if self._waiting >= self._settings.max_queued_jobs + self._settings.max_concurrent_jobs:
            raise QuotaExceeded(
                f"the training queue is full ({self._waiting} jobs); try again later"
            )
        job_id = uuid.uuid4().hex
        cancellation = Cancellation()
        self._jobs[job_id] = cancellation
        self._waiting += 1
        self._observer.queue_changed(self._waiting)
        try:
            yield Accepted(job_id, max(0, self._waiting - 1), job.seed)
            async with self._slots:
                if cancellation.requested:
                    finished = Finished(
                        job_id, Outcome.CANCELLED, job.seed, error_message="cancelled while queued"
                    )
                else:
                    async for event in self._run(job_id, job, cancellation, tenant):
                        if isinstance(event, Finished):
                            finished = event
                        else:
                            yield event
            self._observer.job_finished(finished)
            log.info("training %s tenant=%s outcome=%s", job_id, tenant, finished.outcome.value)
            yield finished
        finally:
            self._waiting -= 1
            self._jobs.pop(job_id, None)
            self._observer.queue_changed(self._waiting)

    async def _run(
        self, job_id: str, job: TrainJob, cancellation: Cancellation, tenant: str
    ) -> AsyncIterator[TrainEvent]:
        prepared = await asyncio.to_thread(self._prepare, job)
        job = self._shaped(job, prepared)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[TrainEvent] = asyncio.Queue()

        def emit(event: TrainEvent) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        def run() -> None:
            try:
                finished = self._training.run(job_id, job, prepared, emit, cancellation)
            except Exception as exc:  # the stream must always end with Finished
                log.exception("training %s failed on our side", job_id)
                finished = Finished(
                    job_id,
                    Outcome.INFRA_ERROR,
                    job.seed,
                    error_type=type(exc).__name__,
                    error_message=f"training failed on our side: {exc}"[:1000],
                )
            emit(finished)

        worker = loop.run_in_executor(None, run)
        try:
            while True:
                event = await events.get()
                if isinstance(event, EpochDone):
                    self._observer.epoch_finished(event)
                yield event
                if isinstance(event, Finished):
                    break
        finally:
            if not worker.done():  # the caller went away: stop the container, then wait
                cancellation.request()
            await asyncio.shield(worker)
