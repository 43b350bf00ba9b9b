"""Prepared data in a named volume: how a trainer running in a container hands data to jobs.

This process cannot mount a volume, but the engine keeps a local volume's files in a host
folder (its Mountpoint); using that folder as cache_root stands for the trainer's own mount.
"""

import os
import uuid
from pathlib import Path

import docker
import pytest
import torch

from netapi.outcomes import Outcome
from tests.integration.trainer.conftest import REPO_ROOT, classification_job, model, run_job
from trainer_svc.config import TrainerSettings
from trainer_svc.events import EpochDone, Finished


@pytest.fixture
def prepared_volume():
    client = docker.from_env()
    volume = client.volumes.create(
        name=f"nasforge-test-prepared-{uuid.uuid4().hex[:8]}",
        labels={"org.nasforge.test": "prepared-volume"},
    )
    try:
        yield volume
    finally:
        volume.remove(force=True)
        client.close()


@pytest.fixture
def settings(tmp_path, prepared_volume):
    """Overrides conftest's: the cache is the volume, seen where the engine keeps it."""
    return TrainerSettings(
        namespace=f"nasforge-test-train-{uuid.uuid4().hex[:8]}",
        data_root=REPO_ROOT / "var",
        cache_root=Path(prepared_volume.attrs["Mountpoint"]),
        prepared_volume=prepared_volume.name,
        weights_root=tmp_path / "weights",
        cpus=2,
        max_queued_jobs=0,
    )


async def test_a_job_trains_on_data_from_the_named_volume(trainer, settings, prepared_volume):
    launcher = trainer._training._launcher
    started = []
    start = launcher.start
    launcher.start = lambda spec: started.append(spec) or start(spec)

    job = classification_job(
        model("small_cnn"), train_samples=2000, validation_samples=500, test_samples=500
    )
    events = await run_job(trainer, job)

    finished = events[-1]
    assert isinstance(finished, Finished), finished
    assert finished.outcome is Outcome.SUCCESS, finished.error_message
    assert [e.epoch for e in events if isinstance(e, EpochDone)] == [1]
    assert 0.5 <= finished.scores["accuracy"] <= 1.0
    # The data went through the volume, not a bind mount of a host path.
    (spec,) = started
    data = next(mount for mount in spec.mounts if mount["Target"] == "/data")
    assert (data["Type"], data["Source"], data["ReadOnly"]) == (
        "volume",
        prepared_volume.name,
        True,
    )
    (prepared,) = os.listdir(settings.cache_root)
    assert prepared.startswith("fashion-mnist-")
    assert sorted(os.listdir(settings.cache_root / prepared)) == ["data.pt", "meta.json"]
    # What training containers mount holds the training split's targets alone.
    data = torch.load(settings.cache_root / prepared / "data.pt", weights_only=True)
    assert set(data["targets"]) == {"train"}
