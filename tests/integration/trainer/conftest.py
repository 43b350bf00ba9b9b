"""Fixtures for training tests: a trainer on the real engine, in its own label namespace."""

import pathlib
import uuid

import pytest

from netapi.tasks import TaskSpec
from trainer_svc.__main__ import build_trainer
from trainer_svc.config import TrainerSettings
from trainer_svc.events import TrainJob

MODELS = pathlib.Path(__file__).with_name("models")
REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


def model(name: str) -> str:
    return (MODELS / f"{name}.py").read_text()


def classification_job(code: str, epochs: int = 1, **overrides) -> TrainJob:
    spec = TaskSpec(
        "img-classification",
        "fashion-mnist",
        (64, 1, 28, 28),
        (10,),
        overrides.pop("prm", {"lr": 0.05, "momentum": 0.9}),
        "norm",
    )
    fields = {
        "code": code,
        "spec": spec,
        "epochs": epochs,
        "seed": 7,
        "epoch_budget_seconds": 120,
        "job_budget_seconds": 600,
        "train_samples": 6000,
        "validation_samples": 1000,
        "test_samples": 2000,
    }
    return TrainJob(**{**fields, **overrides})


@pytest.fixture
def settings(tmp_path):
    return TrainerSettings(
        namespace=f"nasforge-test-train-{uuid.uuid4().hex[:8]}",
        data_root=REPO_ROOT / "var",
        cache_root=REPO_ROOT / "var" / "prepared",
        weights_root=tmp_path / "weights",
        cpus=2,
        max_queued_jobs=0,
        plaintext=True,  # one service in isolation; TLS is tested in tests/unit/rpc
    )


@pytest.fixture
def trainer(settings):
    instance = build_trainer(settings, ping=True)
    yield instance
    launcher = instance._training._launcher
    leftovers = launcher.leftovers(expired_only=False)
    launcher.reap(expired_only=False)
    assert leftovers == [], f"containers left behind: {leftovers}"


async def run_job(trainer, job):
    """All events of one job, in order."""
    return [event async for event in trainer.train(job, tenant="acme")]
