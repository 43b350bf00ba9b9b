"""One training job in one locked-down container (blocking; run in a worker thread).

The prepared dataset is mounted read-only at /data (its folder bind-mounted, or the named
volume that holds the whole cache when the trainer itself runs in a container), one fresh
volume at /out (this job's alone: no container shares a writable volume); both carry the
tenant's label; per-epoch lines are read with a deadline per epoch and per job, and the
best weights are copied out of /out before the container and the volume are removed.
"""

import io
import json
import logging
import math
import secrets
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
from docker.types import Mount

from netapi.findings import sanitise
from netapi.harness.protocol import job_line
from netapi.outcomes import Outcome
from sandbox_runner.containers import (
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
from trainer_svc.events import EpochDone, Finished, TrainEvent, TrainJob
from trainer_svc.prepare import PreparedData
from trainer_svc.scoring import score_captions

log = logging.getLogger(__name__)
TRAINING_ENTRYPOINT = ["python3", "-m", "netapi.harness.training"]
JOB_LABEL = "org.nasforge.job"
MAX_WEIGHTS_BYTES = 2 * 1024**3


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


def _copy_weights(
    container: AttachedContainer, client: docker.DockerClient, destination: Path
) -> str:
    """Copy /out/best.pt out of the (stopped) container; '' when there is none."""
    try:
        stream, stat = client.api.get_archive(container.id, "/out/best.pt")
    except docker.errors.NotFound:
        return ""
    if stat["size"] > MAX_WEIGHTS_BYTES:
        return ""
    archive = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
    member = archive.getmember("best.pt")
    if not member.isfile():
        return ""
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(archive.extractfile(member).read())
    return str(destination)


def _caption_scores(final: dict, prepared: PreparedData, seed: int) -> dict[str, float]:
    itos = prepared.meta["itos"]
    ids = prepared.meta["test_image_ids"]
    generated = final.get("test_generated", [])
    if len(generated) != len(ids):
        raise ValueError(f"{len(generated)} generated captions for {len(ids)} test images")
    predictions = {
        image_id: " ".join(itos[t] for t in tokens if 0 <= t < len(itos))
        for image_id, tokens in zip(ids, generated, strict=True)
    }
    scores = score_captions(
        predictions, prepared.meta["test_references"], prepared.meta["train_captions"], seed=seed
    )
    return {
        "bleu4_sentence": scores.bleu4_nltk,
        "bleu4_corpus": scores.bleu4_coco,
        "bleu4_constant_baseline": scores.baseline_bleu4_coco,
        "bleu4_sentence_constant_baseline": scores.baseline_bleu4_nltk,
    }


class ContainerTraining:
    """Runs a TrainJob in a container, reporting events through ``emit``."""

    def __init__(
        self, settings: TrainerSettings, launcher: Launcher, client: docker.DockerClient
    ) -> None:
        self._settings = settings
        self._launcher = launcher
        self._client = client

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
            labels={MANAGED_BY: self._launcher.namespace, TENANT: tenant, JOB_LABEL: job_id},
        )
        container = None
        try:
            container = self._start(job_id, job, prepared, volume.name, tenant=tenant)
            cancellation.container = container
            if cancellation.requested:
                container.kill()
            finished = self._follow(job_id, job, prepared, container, emit, cancellation)
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
            gpu=settings.gpu,
            tenant=tenant,
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

    def job_document(self, job: TrainJob, prepared: PreparedData, nonce: str) -> bytes:
        """The job line sent to the training harness on stdin."""
        document = json.loads(
            job_line(nonce, job.code, job.spec, 10**10, "cuda" if self._settings.gpu else "cpu")
        )
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
    ) -> Finished:
        nonce = secrets.token_hex(16)
        job_deadline = time.monotonic() + job.job_budget_seconds
        best_epoch = 0

        def ended(outcome: Outcome, message: str, error_type: str = "") -> Finished:
            return Finished(
                job_id,
                outcome,
                job.seed,
                best_epoch,
                error_type=error_type or outcome.value,
                error_message=sanitise(message, 1200),
            )

        try:
            container.send_line(self.job_document(job, prepared, nonce))
            while True:
                deadline = min(time.monotonic() + job.epoch_budget_seconds, job_deadline)
                line = container.read_line(deadline)
                if line is None:
                    break
                record = json.loads(line)
                if record.get("nonce") != nonce:
                    return ended(Outcome.RUNTIME_ERROR, "the result channel was corrupted")
                if record.get("final"):
                    return self._finish(job_id, job, prepared, container, record)
                best_epoch = max(best_epoch, int(record["epoch"]))
                emit(
                    EpochDone(
                        job_id,
                        int(record["epoch"]),
                        float(record["train_loss"]),
                        float(record["validation_metric"]),
                        float(record["samples_per_second"]),
                        float(record["wall_time_ms"]),
                    )
                )
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
    ) -> Finished:
        outcome = Outcome(final["outcome"])
        best_epoch = int(final.get("best_epoch", 0))
        if outcome is not Outcome.SUCCESS:
            error = final.get("error") or {}
            return Finished(
                job_id,
                outcome,
                job.seed,
                best_epoch,
                error_type=sanitise(str(error.get("type", "")), 100),
                error_message=sanitise(str(error.get("message", "")), 1200),
            )
        container.wait_exit(30)
        weights = _copy_weights(
            container, self._client, self._settings.weights_root / f"{job_id}.pt"
        )
        if job.spec.is_captioning:
            scores = _caption_scores(final, prepared, job.seed)
        else:
            scores = {"accuracy": float(final["test_accuracy"])}
        if not all(math.isfinite(value) for value in scores.values()):
            return Finished(
                job_id,
                Outcome.TRAINING_FAILURE,
                job.seed,
                best_epoch,
                error_type="Score",
                error_message="non-finite test score",
            )
        return Finished(job_id, Outcome.SUCCESS, job.seed, best_epoch, scores, weights_path=weights)
