"""One training job in one locked-down container (blocking; run in a worker thread).

The prepared dataset is mounted read-only at /data (its folder bind-mounted, or the named
volume that holds the whole cache when the trainer itself runs in a container), one fresh
volume at /out (this job's alone: no container shares a writable volume); both carry the
tenant's label; per-epoch lines are read with a deadline per epoch and per job, and the
best weights are copied out of /out, checked as a plain state_dict and saved again by the
trainer (trainer_svc.weights_check), and kept in the WeightsStore (which enforces retention)
before the container and the volume are removed.
"""

import io
import json
import logging
import math
import tarfile
import threading
import time
from collections.abc import Callable

import docker
import docker.errors
from docker.types import Mount

from netapi.findings import sanitise
from netapi.harness.protocol import job_line
from netapi.outcomes import Outcome
from sandbox_runner.containers import (
    CONTAINER_USER,
    MANAGED_BY,
    TENANT,
    AttachedContainer,
    ContainerSpec,
    DeadlineExceeded,
    InfraError,
    Launcher,
    Limits,
    OutputFlood,
)
from trainer_svc.config import TrainerSettings
from trainer_svc.evaluation import BadPredictions, TrustedEvaluator, prediction_bytes
from trainer_svc.events import EpochDone, Finished, TrainEvent, TrainJob
from trainer_svc.prepare import PreparedData
from trainer_svc.weights_check import WeightsRefused, checked_weights
from trainer_svc.weights_store import WeightsStore

log = logging.getLogger(__name__)
TRAINING_ENTRYPOINT = ["python3", "-m", "netapi.harness.training"]
JOB_LABEL = "org.nasforge.job"
MAX_WEIGHTS_BYTES = 2 * 1024**3
# What a candidate may say of itself: that it failed. Success is decided on the host, and
# an infra_error or cancelled would shift the blame.
CANDIDATE_CLAIMS = frozenset(Outcome) - {
    Outcome.SUCCESS,
    Outcome.INFRA_ERROR,
    Outcome.CANCELLED,
    Outcome.DUPLICATE,
}


def output_volume_options(size_bytes: int) -> dict[str, str]:
    """A tmpfs of ``size_bytes`` owned by the container's user: a job's output is bounded, and
    the engine drops it when the container ends (the weights are copied out before)."""
    uid = CONTAINER_USER.split(":")[0]
    return {
        "type": "tmpfs",
        "device": "tmpfs",
        "o": f"size={size_bytes},uid={uid},gid={uid},mode=0700,nosuid,nodev,noexec",
    }


class Cancellation:
    """Set by CancelTraining; the running container is killed at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.container: AttachedContainer | None = None

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self) -> None:
        self._event.set()
        if self.container is not None:
            self.container.kill()


def _read_weights(container: AttachedContainer, client: docker.DockerClient) -> bytes:
    """/out/best.pt of the (waiting) container, as the candidate left it (unchecked: see
    trainer_svc.weights_check); WeightsRefused when there is no such file to read."""
    try:
        stream, stat = client.api.get_archive(container.id, "/out/best.pt")
    except docker.errors.NotFound:
        raise WeightsRefused("the container left no /out/best.pt") from None
    if stat["size"] > MAX_WEIGHTS_BYTES:
        raise WeightsRefused(f"/out/best.pt is {stat['size']} bytes, over {MAX_WEIGHTS_BYTES}")
    archive = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
    member = archive.getmember("best.pt")
    if not member.isfile():
        raise WeightsRefused("/out/best.pt is not a regular file")
    return archive.extractfile(member).read()


def _image_digest(container: AttachedContainer, client: docker.DockerClient) -> str:
    """The id ("sha256:...") of the image the container runs: the content digest of its
    config, which names the exact runtime whatever tag it was started by."""
    try:
        return str(client.api.inspect_container(container.id).get("Image", ""))
    except docker.errors.DockerException as exc:
        log.warning("could not inspect container %s for its image: %s", container.id[:12], exc)
        return ""


class ContainerTraining:
    """Runs a TrainJob in a container, reporting events through ``emit``."""

    def __init__(
        self, settings: TrainerSettings, launcher: Launcher, client: docker.DockerClient
    ) -> None:
        self._settings = settings
        self._launcher = launcher
        self._client = client
        self.weights = WeightsStore(
            settings.weights_root,
            retention_bytes=settings.weights_retention_bytes,
            retention_count=settings.weights_retention_count,
        )

    def run(
        self,
        job_id: str,
        job: TrainJob,
        prepared: PreparedData,
        emit: Callable[[TrainEvent], None],
        cancellation: Cancellation,
        *,
        tenant: str,
    ) -> Finished:
        """The job's end; ``cancellation.container`` names the container that ran it."""
        started = time.monotonic()
        volume = self._client.volumes.create(
            name=f"nasforge-out-{job_id}",
            driver="local",
            driver_opts=output_volume_options(self._settings.output_volume_bytes),
            labels={MANAGED_BY: self._launcher.namespace, TENANT: tenant, JOB_LABEL: job_id},
        )
        container = None
        try:
            container = self._start(job_id, job, prepared, volume.name, tenant=tenant)
            cancellation.container = container
            if cancellation.requested:
                container.kill()
            finished = self._follow(
                job_id, job, prepared, container, emit, cancellation, tenant=tenant
            )
        except InfraError as exc:
            finished = Finished(
                job_id,
                Outcome.INFRA_ERROR,
                job.seed,
                error_type="InfraError",
                error_message=sanitise(str(exc)),
            )
        finally:
            if container is not None:
                container.destroy()
            try:
                volume.remove(force=True)
            except docker.errors.DockerException as exc:
                log.warning("could not remove volume %s: %s", volume.name, exc)
        return Finished(
            **{**finished.__dict__, "wall_time_ms": (time.monotonic() - started) * 1000}
        )

    def data_mount(self, prepared: PreparedData) -> tuple[Mount, str]:
        """How a training container sees the prepared data: the /data mount and the file.

        A bind mount of the prepared folder names a path on the engine's host, which is
        meaningless when this trainer runs in a container itself (and a Docker proxy may
        refuse it); there the cache is a named volume, mounted whole, and the file is found
        below /data by its place relative to `cache_root`, where this trainer mounts it.
        """
        settings = self._settings
        if settings.prepared_volume is None:
            source = str(prepared.directory.resolve())
            return Mount("/data", source, type="bind", read_only=True), "/data/data.pt"
        try:
            relative = prepared.data_file.resolve().relative_to(settings.cache_root.resolve())
        except ValueError as exc:
            raise InfraError(
                f"prepared data {prepared.directory} lies outside cache_root "
                f"{settings.cache_root}, the mount point of volume {settings.prepared_volume}"
            ) from exc
        mount = Mount("/data", settings.prepared_volume, type="volume", read_only=True)
        return mount, f"/data/{relative.as_posix()}"

    def _start(
        self, job_id: str, job: TrainJob, prepared: PreparedData, volume: str, *, tenant: str
    ) -> AttachedContainer:
        settings = self._settings
        data, _ = self.data_mount(prepared)
        predictions = prediction_bytes(
            job.spec, job.epochs * job.validation_samples + job.test_samples
        )
        spec = ContainerSpec(
            image=settings.image,
            role="train",
            limits=Limits(
                memory_bytes=settings.memory_bytes, cpus=settings.cpus, pids=settings.pids_limit
            ),
            lifetime_seconds=job.job_budget_seconds + 2 * settings.ready_timeout_seconds,
            labels={JOB_LABEL: job_id},
            entrypoint=TRAINING_ENTRYPOINT,
            mounts=(
                data,
                Mount("/out", volume, type="volume"),
            ),
            environment=self._thread_environment(),
            gpu=settings.gpu,
            tenant=tenant,
            output_cap_bytes=settings.output_cap_bytes + predictions,
        )
        container = self._launcher.start(spec)
        try:
            ready = container.read_line(time.monotonic() + settings.ready_timeout_seconds)
        except (DeadlineExceeded, OutputFlood, OSError) as exc:
            container.destroy()
            raise InfraError(f"training container did not get ready: {exc}") from exc
        if ready is None or not json.loads(ready).get("ready"):
            container.destroy()
            raise InfraError(f"training container did not get ready: {container.stderr_tail!r}")
        return container

    @property
    def runtime(self) -> str | None:
        """The container runtime of this trainer's jobs (runsc or runc), once resolved."""
        return self._launcher.runtime

    def _thread_environment(self) -> dict[str, str]:
        """Torch's threads under gVisor: ``gvisor_threads``; else one per CPU (the default)."""
        threads = self._settings.gvisor_threads
        if self.runtime != "runsc" or threads is None:
            return {}
        return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}

    def job_document(self, job: TrainJob, prepared: PreparedData) -> bytes:
        """The job line sent to the training harness on stdin (no nonce: nothing the
        container says is trusted, so there is nothing for one to protect)."""
        document = json.loads(
            job_line("", job.code, job.spec, 10**10, "cuda" if self._settings.gpu else "cpu")
        )
        del document["nonce"]
        _, data_path = self.data_mount(prepared)
        document.update(epochs=job.epochs, seed=job.seed, data_path=data_path, out_dir="/out")
        return (json.dumps(document) + "\n").encode()

    def _follow(
        self,
        job_id: str,
        job: TrainJob,
        prepared: PreparedData,
        container: AttachedContainer,
        emit: Callable[[TrainEvent], None],
        cancellation: Cancellation,
        *,
        tenant: str,
    ) -> Finished:
        evaluator = TrustedEvaluator(job.spec, prepared, job.seed)
        job_deadline = time.monotonic() + job.job_budget_seconds
        best = _Best()

        def ended(outcome: Outcome, message: str, error_type: str = "") -> Finished:
            return Finished(
                job_id,
                outcome,
                job.seed,
                best.epoch,
                error_type=error_type or outcome.value,
                error_message=sanitise(message, 1200),
            )

        try:
            container.send_line(self.job_document(job, prepared))
            epoch_started = time.monotonic()
            while True:
                deadline = min(time.monotonic() + job.epoch_budget_seconds, job_deadline)
                line = container.read_line(deadline)
                if line is None:
                    break
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("a line is not a JSON object")
                if record.get("final"):
                    return self._finish(
                        job_id, job, prepared, container, record, evaluator, best, tenant=tenant
                    )
                if best.epochs_done >= job.epochs:
                    return ended(Outcome.RUNTIME_ERROR, f"more than {job.epochs} epochs reported")
                metric = evaluator.validation_metric(record.get("predictions"))
                keep = best.record(metric)
                container.send_line(json.dumps({"keep": keep}).encode() + b"\n")
                now = time.monotonic()
                emit(
                    EpochDone(
                        job_id,
                        best.epochs_done,
                        float(record["train_loss"]),  # the candidate's word: shown, never used
                        metric,
                        float(record["samples_per_second"]),
                        (now - epoch_started) * 1000,
                    )
                )
                epoch_started = now
        except DeadlineExceeded:
            container.kill()
            if cancellation.requested:
                return ended(Outcome.CANCELLED, "cancelled")
            which = "job" if time.monotonic() >= job_deadline else "epoch"
            return ended(Outcome.TIMEOUT, f"the {which} ran past its time budget and was killed")
        except OutputFlood as exc:
            container.kill()
            return ended(Outcome.RUNTIME_ERROR, f"output flood: {exc}")
        except OSError as exc:  # the stream was closed under us: a kill
            if cancellation.requested:
                return ended(Outcome.CANCELLED, "cancelled")
            container.kill()
            return ended(Outcome.INFRA_ERROR, f"lost the training container's stream: {exc}")
        except BadPredictions as exc:
            container.kill()
            return ended(Outcome.RUNTIME_ERROR, f"the model's predictions are malformed: {exc}")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if cancellation.requested:  # select() on the stream a kill just closed
                return ended(Outcome.CANCELLED, "cancelled")
            container.kill()
            return ended(Outcome.RUNTIME_ERROR, f"the result channel was corrupted: {exc}")
        if cancellation.requested:
            return ended(Outcome.CANCELLED, "cancelled")
        state = container.wait_exit(5)
        if state.get("OOMKilled"):
            return ended(Outcome.OOM, f"training exceeded {self._settings.memory_bytes} bytes")
        tail = container.stderr_tail.decode("utf-8", "replace").strip().splitlines()[-3:]
        return ended(
            Outcome.RUNTIME_ERROR,
            f"training ended without a result (exit code "
            f"{state.get('ExitCode')}): {' | '.join(tail)}",
        )

    def _finish(
        self,
        job_id: str,
        job: TrainJob,
        prepared: PreparedData,
        container: AttachedContainer,
        final: dict,
        evaluator: TrustedEvaluator,
        best: "_Best",
        *,
        tenant: str,
    ) -> Finished:
        """The job's end: a failure the candidate owns up to, or success scored here."""
        outcome = Outcome(final["outcome"])
        if outcome is not Outcome.SUCCESS:
            error = final.get("error") or {}
            if not isinstance(error, dict) or outcome not in CANDIDATE_CLAIMS:
                outcome, error = (
                    Outcome.RUNTIME_ERROR,
                    {
                        "type": "Claim",
                        "message": f"the container claimed {final['outcome']!r}, which only the "
                        "trainer decides",
                    },
                )
            return Finished(
                job_id,
                outcome,
                job.seed,
                best.epoch,
                error_type=sanitise(str(error.get("type", "")), 100),
                error_message=sanitise(str(error.get("message", "")), 1200),
            )
        if best.epochs_done != job.epochs:
            return Finished(
                job_id,
                Outcome.RUNTIME_ERROR,
                job.seed,
                best.epoch,
                error_type="Claim",
                error_message=f"success claimed after {best.epochs_done} of {job.epochs} epochs",
            )
        # The validation score is the trainer's own measure of the chosen epoch: it is what
        # searches steer by; the test scores are held out and only shown.
        scores = {**evaluator.test_scores(final.get("predictions")), "validation": best.metric}
        try:  # the harness waits: /out ends with it
            data, refused = checked_weights(_read_weights(container, self._client)), ""
        except WeightsRefused as refusal:  # the score stands; only the file is not served
            data, refused = None, sanitise(f"the weights were not kept: {refusal}", 1200)
            log.warning("job %s: %s", job_id, refused)
        if not all(math.isfinite(value) for value in scores.values()):
            return Finished(
                job_id,
                Outcome.TRAINING_FAILURE,
                job.seed,
                best.epoch,
                error_type="Score",
                error_message="non-finite test score",
            )
        kept = self.weights.keep(job_id, data, tenant=tenant) if data is not None else None
        return Finished(
            job_id,
            Outcome.SUCCESS,
            job.seed,
            best.epoch,
            scores,
            error_type="WeightsRefused" if refused else "",
            error_message=refused,
            weights_path=str(kept.path) if kept else "",
            weights_sha256=kept.sha256 if kept else "",
            weights_size_bytes=kept.size_bytes if kept else 0,
            runtime_image_digest=_image_digest(container, self._client),
            dataset_digest=prepared.digest,
        )


class _Best:
    """The trainer's own count of epochs and its choice of the best one (by validation)."""

    def __init__(self) -> None:
        self.epochs_done, self.epoch, self.metric = 0, 0, -math.inf

    def record(self, metric: float) -> bool:
        """Count an epoch scored ``metric``; whether it is the best so far."""
        self.epochs_done += 1
        if metric > self.metric:
            self.epoch, self.metric = self.epochs_done, metric
            return True
        return False
