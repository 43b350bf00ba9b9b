"""The services' real container work passes through the proxy exactly as without it."""

import io
import tarfile
import uuid

import docker
import pytest

from netapi.code_policy import load_policy
from netapi.outcomes import Outcome
from netapi.tasks import IMG_CLASSIFICATION, default_spec
from sandbox_runner.config import SandboxSettings
from sandbox_runner.containers import MANAGED_BY, Launcher
from sandbox_runner.core import SandboxChecker
from tests.integration.docker_proxy.conftest import ProxyProcess
from tests.integration.sandbox.conftest import GOOD_CLASSIFIER, REPO_ROOT, corpus
from tests.integration.trainer.conftest import classification_job, model, run_job
from trainer_svc.__main__ import build_trainer
from trainer_svc.config import TrainerSettings
from trainer_svc.events import EpochDone, Finished
from trainer_svc.prepare import Sizes, prepare

pytestmark = pytest.mark.docker


async def test_a_sandbox_check_passes_through_the_proxy(proxied, namespace, engine):
    settings = SandboxSettings(
        namespace=namespace,
        pool_size=0,
        timeout_seconds=30,
        name_index_path=REPO_ROOT / "var" / "torch_index.json",
        memory_bytes=1024**3,
        reap_interval_seconds=3600,
    )
    launcher = Launcher(proxied, namespace, settings.output_cap_bytes)
    checker = SandboxChecker(settings, launcher, load_policy(settings))
    await checker.start()
    try:
        result = await checker.check(
            corpus(GOOD_CLASSIFIER), default_spec(IMG_CLASSIFICATION), tenant="acme"
        )
    finally:
        await checker.close()
    assert result.outcome is Outcome.SUCCESS, result.error_message
    assert result.output_shape == [2, 10]
    assert result.parameter_count > 10_000
    assert launcher.leftovers(expired_only=False) == []
    assert engine.containers.list(all=True, filters={"label": f"{MANAGED_BY}={namespace}"}) == []


@pytest.fixture
def prepared_volume(engine):
    """A named volume holding prepared data, as compose's nasforge-prepared holds the cache.

    Filled through the engine directly (a bind mount the proxy would refuse is not needed:
    the files go in with put_archive).
    """
    job = classification_job(model("small_cnn"))
    sizes = Sizes(job.train_samples, job.validation_samples, job.test_samples)
    var = REPO_ROOT / "var"
    # The folder the trainer's own prepare step will find for this job.
    prepared = prepare(job.spec.dataset, job.spec.transform, sizes, var / "prepared", var)
    name = f"nasforge-prepared-test-{uuid.uuid4().hex[:8]}"
    volume = engine.volumes.create(name=name, labels={MANAGED_BY: "nasforge-test-proxy"})
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add(prepared.directory, arcname=prepared.directory.name)
    helper = engine.containers.create(
        "nasforge-runtime:cpu", command=["true"], volumes={name: {"bind": "/v", "mode": "rw"}}
    )
    try:
        assert helper.put_archive("/v", archive.getvalue())
    finally:
        helper.remove(force=True)
    yield name
    volume.remove(force=True)


@pytest.fixture
def trainer_proxy(prepared_volume):
    """A proxy as compose runs trainer_svc's: its namespace pattern, its volumes."""
    running = ProxyProcess(
        "nasforge-test-proxy-train-{hostname}",
        NASFORGE_DOCKER_PROXY_VOLUMES=f'["nasforge-out-{{hex}}:rw", "{prepared_volume}"]',
    )
    yield running
    running.stop()


async def test_a_training_run_passes_through_the_proxy(
    trainer_proxy, prepared_volume, tmp_path, monkeypatch
):
    proxy = trainer_proxy
    monkeypatch.setenv("DOCKER_HOST", proxy.url)  # build_trainer uses docker.from_env()
    settings = TrainerSettings(
        # Unique (this run's alone), and of the proxy's pattern, as a replica's hostname is.
        namespace=f"nasforge-test-proxy-train-{uuid.uuid4().hex[:8]}",
        data_root=REPO_ROOT / "var",
        cache_root=REPO_ROOT / "var" / "prepared",
        prepared_volume=prepared_volume,
        weights_root=tmp_path / "weights",
        cpus=2,
        max_queued_jobs=0,
    )
    trainer = build_trainer(settings, ping=True)
    launcher = trainer._training._launcher
    assert launcher._client.api.base_url == proxy.url.replace("tcp://", "http://")
    try:
        events = await run_job(trainer, classification_job(model("small_cnn"), epochs=1))
    finally:
        leftovers = launcher.leftovers(expired_only=False)
        launcher.reap(expired_only=False)
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    assert finished.outcome is Outcome.SUCCESS, finished.error_message
    assert [e.epoch for e in events if isinstance(e, EpochDone)] == [1]
    assert finished.scores["accuracy"] > 0.5
    assert (tmp_path / "weights").exists() and finished.weights_path  # copied via get_archive
    assert leftovers == []
    out_volumes = docker.DockerClient(base_url="unix:///var/run/docker.sock").volumes.list(
        filters={"label": f"{MANAGED_BY}={settings.namespace}"}
    )
    assert out_volumes == []
