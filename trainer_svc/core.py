"""The trainer: a bounded queue of training jobs, each streamed as events, cancellable.

Per tenant, jobs queued or running are bounded by its ``concurrent_trainings`` quota and,
on a GPU trainer, its jobs' wall minutes in the UTC day by ``gpu_minutes_per_day``. Both are
kept in the quota ledger (rpc.quota_ledger, NASFORGE_QUOTA_LEDGER): replicas on a shared one
count together, checked and reserved atomically. A GPU job reserves its worst case, its time
limit in minutes, when admitted, and is charged its real wall minutes (from the start of its
container work) to that day when it ends.
"""

import asyncio
import collections
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from netapi.outcomes import Outcome
from netapi.tasks import TaskSpecError, validate
from rpc.admission import QuotaLookup, tenant_limit
from rpc.audit import AuditLog, source_md5
from rpc.errors import InvalidArgument, QuotaExceeded
from rpc.quota_ledger import (
    SECONDS_PER_DAY,
    Hold,
    QuotaLedger,
    Refusal,
    Reservation,
    open_ledger,
    utc_day,
)
from trainer_svc.config import TrainerSettings
from trainer_svc.container_run import Cancellation, ContainerTraining
from trainer_svc.datasets.catalog import DatasetCatalog
from trainer_svc.datasets.contents import DatasetError
from trainer_svc.events import Accepted, EpochDone, Finished, TrainEvent, TrainJob
from trainer_svc.prepare import PreparedData, Sizes, prepare
from trainer_svc.weights_store import WeightsStore

log = logging.getLogger(__name__)

CONCURRENT_RETRY_SECONDS = 30.0


@dataclass
class JobQuota:
    """What a job holds in the quota ledger while it is queued or runs."""

    training: Hold  # its place among the tenant's concurrent trainings
    gpu: Reservation | None = None  # on a GPU trainer: its time limit, in minutes
    started_at: float | None = None  # when its container work began: GPU minutes count from it


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
        *,
        quotas: QuotaLookup | None = None,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
        ledger: QuotaLedger | None = None,
    ) -> None:
        """``clock``: the wall clock of the UTC days; ``ledger``: unset, settings.quota_ledger."""
        self._settings = settings
        self._training = training
        self._observer = observer or _NoObserver()
        self._quotas = quotas
        self._audit = audit
        self._slots = asyncio.Semaphore(settings.max_concurrent_jobs)
        self._jobs: dict[str, Cancellation] = {}
        self._waiting = 0
        # tenant -> jobs queued or running here (the ledger counts those of every replica)
        self.in_flight: collections.Counter[str] = collections.Counter()
        self._clock = clock
        self.quota_ledger = ledger if ledger is not None else open_ledger(settings.quota_ledger)
        self.datasets = DatasetCatalog(settings)

    @property
    def weights(self) -> WeightsStore:
        """The best-epoch weights this trainer's jobs kept (read by ReadWeights)."""
        return self._training.weights

    def validate(self, job: TrainJob) -> TrainJob:
        """The job with defaults filled in; InvalidArgument for what cannot run."""
        try:
            self.datasets.get(job.spec.dataset)
        except DatasetError as exc:
            raise InvalidArgument(str(exc)) from exc
        if not 1 <= job.epochs <= self._settings.max_epochs:
            raise InvalidArgument(f"epochs must be in 1..{self._settings.max_epochs}")
        if not job.code.strip():
            raise InvalidArgument("code is empty")
        settings = self._settings
        for name, asked, cap in (
            ("epoch", job.epoch_budget_seconds, settings.max_epoch_budget_seconds),
            ("job", job.job_budget_seconds, settings.max_job_budget_seconds),
        ):
            if asked > cap:
                raise InvalidArgument(
                    f"{name} time budget {asked:g} s is over this trainer's cap of {cap:g} s"
                )
        return replace(
            job,
            seed=job.seed or secrets.randbelow(2**31 - 1) + 1,
            epoch_budget_seconds=job.epoch_budget_seconds
            or min(settings.epoch_budget_seconds, settings.max_epoch_budget_seconds),
            job_budget_seconds=job.job_budget_seconds
            or min(settings.job_budget_seconds, settings.max_job_budget_seconds),
            train_samples=job.train_samples or self._settings.train_samples,
            validation_samples=job.validation_samples or self._settings.validation_samples,
            test_samples=job.test_samples or self._settings.test_samples,
        )

    def _prepare(self, job: TrainJob) -> PreparedData:
        sizes = Sizes(job.train_samples, job.validation_samples, job.test_samples)
        try:
            return prepare(
                self.datasets.get(job.spec.dataset),
                job.spec.transform,
                sizes,
                self._settings.cache_root,
                self._settings.data_root,
                self._settings.labels_root,
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

    def limits(self, tenant: str) -> tuple[int | None, float | None]:
        """The tenant's (concurrent trainings, GPU minutes a day): registry, else settings."""
        settings = self._settings
        trainings = tenant_limit(
            self._quotas, tenant, "concurrent_trainings", settings.per_tenant_trainings
        )
        minutes = tenant_limit(
            self._quotas, tenant, "gpu_minutes_per_day", settings.per_tenant_gpu_minutes_per_day
        )
        return trainings, minutes

    def _take_quota(self, tenant: str, job: TrainJob) -> JobQuota:
        """Hold the job's place and, on a GPU trainer, reserve its time limit in GPU minutes;
        RESOURCE_EXHAUSTED over a limit, UNAVAILABLE when the ledger is out of reach.
        Blocking (the ledger may be a database): called through asyncio.to_thread."""
        trainings, minutes = self.limits(tenant)
        training = self.quota_ledger.hold("concurrent_trainings", tenant, trainings)
        if isinstance(training, Refusal):
            raise training.error(retry_after_seconds=CONCURRENT_RETRY_SECONDS)
        if not self._settings.gpu:
            return JobQuota(training)
        day = utc_day(self._clock())
        try:
            gpu = self.quota_ledger.reserve(
                "gpu_minutes_per_day", tenant, day, job.job_budget_seconds / 60, minutes
            )
        except BaseException:
            training.release()
            raise
        if isinstance(gpu, Refusal):
            training.release()
            until_midnight = (day + 1) * SECONDS_PER_DAY - self._clock()
            raise gpu.error(retry_after_seconds=until_midnight)
        return JobQuota(training, gpu)

    @staticmethod
    def _release_quota(quota: JobQuota) -> None:
        """Give back the job's place; a job that never started is charged no GPU minutes
        (one that did is charged by _run, once its container work has ended)."""
        quota.training.release()
        if quota.gpu is not None and quota.started_at is None:
            quota.gpu.settle(0)

    async def train(self, job: TrainJob, *, tenant: str) -> AsyncIterator[TrainEvent]:
        """Accepted, then one EpochDone per epoch, then Finished (always last)."""
        job = self.validate(job)
        quota = await asyncio.to_thread(self._take_quota, tenant, job)
        # The queue bound is checked after the await, so that no job slips past it.
        if self._waiting >= self._settings.max_queued_jobs + self._settings.max_concurrent_jobs:
            await asyncio.to_thread(self._release_quota, quota)
            raise QuotaExceeded(
                f"the training queue is full ({self._waiting} jobs); try again later"
            )
        job_id = uuid.uuid4().hex
        cancellation = Cancellation()
        self._jobs[job_id] = cancellation
        self._waiting += 1
        self.in_flight[tenant] += 1
        self._observer.queue_changed(self._waiting)
        try:
            yield Accepted(job_id, max(0, self._waiting - 1), job.seed)
            async with self._slots:
                if cancellation.requested:
                    finished = Finished(
                        job_id, Outcome.CANCELLED, job.seed, error_message="cancelled while queued"
                    )
                else:
                    async for event in self._run(job_id, job, cancellation, tenant, quota):
                        if isinstance(event, Finished):
                            finished = event
                        else:
                            yield event
            self._observer.job_finished(finished)
            log.info("training %s tenant=%s outcome=%s", job_id, tenant, finished.outcome.value)
            await self._audit_finished(tenant, job, finished, cancellation)
            yield finished
        finally:
            self._waiting -= 1
            self.in_flight[tenant] -= 1
            if not self.in_flight[tenant]:
                del self.in_flight[tenant]
            self._jobs.pop(job_id, None)
            self._observer.queue_changed(self._waiting)
            await asyncio.to_thread(self._release_quota, quota)

    async def _audit_finished(
        self, tenant: str, job: TrainJob, finished: Finished, cancellation: Cancellation
    ) -> None:
        if self._audit is None:
            return
        container = cancellation.container
        await asyncio.to_thread(
            self._audit.record,
            "training_ran",
            tenant,
            job_id=finished.job_id,
            candidate_id=job.candidate_id,
            container_id=container.id[:12] if container is not None else "",
            image=self._settings.image if container is not None else "",
            runtime=(self._training.runtime or "") if container is not None else "",
            code_md5=source_md5(job.code),
            outcome=finished.outcome.value,
            gpu=self._settings.gpu,
            wall_ms=round(finished.wall_time_ms),
        )

    async def _run(
        self, job_id: str, job: TrainJob, cancellation: Cancellation, tenant: str, quota: JobQuota
    ) -> AsyncIterator[TrainEvent]:
        prepared = await asyncio.to_thread(self._prepare, job)
        job = self._shaped(job, prepared)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[TrainEvent] = asyncio.Queue()

        def emit(event: TrainEvent) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        def run() -> None:
            try:
                finished = self._training.run(
                    job_id, job, prepared, emit, cancellation, tenant=tenant
                )
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

        quota.started_at = self._clock()
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
            try:
                await asyncio.shield(worker)
            finally:
                if quota.gpu is not None:  # charged to the day it was admitted on
                    minutes = (self._clock() - quota.started_at) / 60
                    await asyncio.to_thread(quota.gpu.settle, minutes)
