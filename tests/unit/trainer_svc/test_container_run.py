"""How a training container is given the prepared data: bind mount, or the named volume."""

import json
from pathlib import Path

import pytest

from sandbox_runner.containers import InfraError
from tests.unit.trainer_svc.jobs import small_job
from trainer_svc.config import TrainerSettings
from trainer_svc.container_run import ContainerTraining
from trainer_svc.prepare import PreparedData

JOB = small_job(epochs=2)


class _Started(Exception):
    pass


class _RecordingLauncher:
    """Keeps the spec of the container it was asked to start, then stops the test there."""

    namespace = "nasforge-test"
    runtime = "runc"

    def __init__(self) -> None:
        self.specs = []

    def start(self, spec):
        self.specs.append(spec)
        raise _Started


def _prepared(directory: Path) -> PreparedData:
    directory.mkdir(parents=True)
    return PreparedData(directory, (1, 28, 28), 10, {}, directory.parent / "labels")


def _training(**settings) -> tuple[ContainerTraining, _RecordingLauncher]:
    launcher = _RecordingLauncher()
    return ContainerTraining(TrainerSettings(**settings), launcher, client=None), launcher


def _data_mount(training, launcher, prepared):
    with pytest.raises(_Started):
        training._start("job1", JOB, prepared, "nasforge-out-job1", tenant="acme")
    (spec,) = launcher.specs
    assert spec.tenant == "acme" and spec.labels == {"org.nasforge.job": "job1"}
    mounts = {mount["Target"]: mount for mount in spec.mounts}
    assert set(mounts) == {"/data", "/out"}
    assert mounts["/out"]["Type"] == "volume" and not mounts["/out"]["ReadOnly"]
    return mounts["/data"]


def _data_path(training, prepared) -> str:
    return json.loads(training.job_document(JOB, prepared))["data_path"]


def test_without_a_volume_the_prepared_folder_is_bind_mounted(tmp_path):
    training, launcher = _training(cache_root=tmp_path / "cache")
    prepared = _prepared(tmp_path / "cache" / "fashion-mnist-0123456789abcdef")
    mount = _data_mount(training, launcher, prepared)
    assert mount["Type"] == "bind"
    assert mount["Source"] == str(prepared.directory.resolve())
    assert mount["ReadOnly"] is True
    assert _data_path(training, prepared) == "/data/data.pt"


def test_with_a_volume_the_whole_volume_is_mounted_read_only(tmp_path):
    training, launcher = _training(cache_root=tmp_path / "cache", prepared_volume="nf_prepared")
    prepared = _prepared(tmp_path / "cache" / "fashion-mnist-0123456789abcdef")
    mount = _data_mount(training, launcher, prepared)
    assert mount["Type"] == "volume"
    assert mount["Source"] == "nf_prepared"
    assert mount["ReadOnly"] is True
    assert _data_path(training, prepared) == "/data/fashion-mnist-0123456789abcdef/data.pt"


def test_the_data_path_follows_the_folder_below_the_mount_point(tmp_path, monkeypatch):
    """A relative cache_root (resolved against the working directory), a nested folder."""
    monkeypatch.chdir(tmp_path)
    training, _ = _training(cache_root=Path("mnt/prepared"), prepared_volume="nf_prepared")
    prepared = _prepared(tmp_path / "mnt" / "prepared" / "v2" / "mnist-feed")
    assert _data_path(training, prepared) == "/data/v2/mnist-feed/data.pt"


def test_the_rest_of_the_job_document_is_unchanged(tmp_path):
    training, _ = _training(cache_root=tmp_path, prepared_volume="nf_prepared")
    document = json.loads(training.job_document(JOB, _prepared(tmp_path / "d")))
    assert document["out_dir"] == "/out"
    assert (document["epochs"], document["seed"]) == (2, 7)
    assert "nonce" not in document  # nothing the container says is trusted: no secret to keep


def test_prepared_data_outside_the_volume_is_an_infra_error(tmp_path):
    training, launcher = _training(cache_root=tmp_path / "cache", prepared_volume="nf_prepared")
    prepared = _prepared(tmp_path / "elsewhere" / "fashion-mnist-0123456789abcdef")
    with pytest.raises(InfraError, match="outside cache_root"):
        training._start("job1", JOB, prepared, "nasforge-out-job1", tenant="acme")
    assert launcher.specs == []


@pytest.mark.parametrize(
    ("runtime", "threads", "environment"),
    [
        ("runsc", 1, {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}),
        ("runsc", None, {}),  # unset: one thread per CPU, as under runc
        ("runc", 1, {}),
    ],
)
def test_under_gvisor_a_job_gets_its_own_thread_count(tmp_path, runtime, threads, environment):
    training, launcher = _training(cache_root=tmp_path, gvisor_threads=threads)
    launcher.runtime = runtime
    _data_mount(training, launcher, _prepared(tmp_path / "d"))
    (spec,) = launcher.specs
    assert spec.environment == environment
