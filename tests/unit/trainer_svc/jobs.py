"""A small classification TrainJob for unit tests that never train for real."""

from dataclasses import replace

from netapi.tasks import TaskSpec
from trainer_svc.events import TrainJob

SMALL_JOB = TrainJob(
    code="class Net: ...",
    spec=TaskSpec("img-classification", "fashion-mnist", (64, 1, 28, 28), (10,), {}, "norm"),
    epochs=1,
    seed=7,
    epoch_budget_seconds=60,
    job_budget_seconds=120,
    train_samples=100,
    validation_samples=10,
    test_samples=10,
)


def small_job(**overrides) -> TrainJob:
    return replace(SMALL_JOB, **overrides)
