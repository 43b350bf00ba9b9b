"""Prometheus metrics of trainer_svc, in one class that takes a registry."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from netapi.outcomes import Outcome
from trainer_svc.events import EpochDone, Finished

_EPOCH_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 3600)


class TrainerMetrics:
    """Jobs by result, epoch duration, samples per second, queue depth, GPU memory."""

    def __init__(self, registry: CollectorRegistry, gpu: bool = False) -> None:
        self.jobs = Counter(
            "nasforge_trainer_jobs_total",
            "Training jobs finished, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.epoch_duration = Histogram(
            "nasforge_trainer_epoch_duration_seconds",
            "Wall time of one training epoch.",
            buckets=_EPOCH_BUCKETS,
            registry=registry,
        )
        self.samples_per_second = Gauge(
            "nasforge_trainer_samples_per_second",
            "Training throughput of the last finished epoch.",
            registry=registry,
        )
        self.queue_depth = Gauge(
            "nasforge_trainer_queue_depth",
            "Jobs admitted and not finished (queued or running).",
            registry=registry,
        )
        self.gpu_memory = None
        if gpu:
            self.gpu_memory = Gauge(
                "nasforge_trainer_gpu_memory_used_bytes",
                "GPU memory in use, read from the driver.",
                registry=registry,
            )
        for outcome in Outcome:
            self.jobs.labels(outcome.value)

    def queue_changed(self, depth: int) -> None:
        self.queue_depth.set(depth)

    def epoch_finished(self, event: EpochDone) -> None:
        self.epoch_duration.observe(event.wall_time_ms / 1000)
        self.samples_per_second.set(event.samples_per_second)
        if self.gpu_memory is not None:
            self.gpu_memory.set(_gpu_memory_used_bytes())

    def job_finished(self, event: Finished) -> None:
        self.jobs.labels(event.outcome.value).inc()


def _gpu_memory_used_bytes() -> float:
    """Used memory of all GPUs from nvidia-smi (the host has the driver, not torch on GPU)."""
    import subprocess

    try:
        output = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return float("nan")
    return sum(float(line) for line in output.split()) * 1024**2
