"""Where trainer-svc writes on Kubernetes (deploy/kubernetes/trainer-svc.yaml), without a cluster.

The pod's root filesystem is read-only, so every folder the trainer writes, as its settings
say (the image's ENV, then the manifest's env, relative paths below the image's WORKDIR),
must be a writable volume: else preparing or registering a dataset fails with EROFS in
the pod. Beyond being writable, each has the reach its data needs: the held-out labels
are per node beside the node's prepared data and out of every training container's reach
(the manifest's own docker-proxy policy refuses to mount them into a job); the dataset
registry and the files it names are one ReadWriteMany claim that every replica mounts.
"""

import json
import re
from pathlib import PurePosixPath

from docker.types import Mount

from docker_proxy.bodies import MANAGED_BY
from docker_proxy.config import VolumeRule
from docker_proxy.policy import Policy
from tests.unit.deploy.test_kubernetes_manifests import (
    NAME_LABEL,
    WORKLOADS,
    _dockerfile,
    _env,
    _main,
    _one,
    _pod,
    _settings,
)
from tests.unit.docker_proxy.conftest import check_spec, launcher_create_body
from trainer_svc.config import TrainerSettings

TRAINER = "trainer-svc"
# Volumes a container can write (Secret, ConfigMap, projected and downwardAPI ones are
# read-only whatever the mount says).
WRITABLE_KINDS = {"emptyDir", "hostPath", "persistentVolumeClaim"}
JOB_VOLUME = "nasforge-out-0123abcd"  # a per-job output volume, as trainer_svc names them


def _workdir(service: str) -> PurePosixPath:
    """The image's working directory (its last WORKDIR), where relative settings point."""
    return PurePosixPath(re.findall(r"^WORKDIR (\S+)$", _dockerfile(service), re.M)[-1])


def _trainer_writes(settings: TrainerSettings) -> dict[str, PurePosixPath]:
    """Every folder the trainer writes, as the pod would see it."""
    assert settings.labels_root is not None, "the labels folder is set in the manifest"
    assert settings.audit_log is not None
    folders = {
        "prepared data": settings.cache_root,
        "held-out labels": settings.labels_root,
        "dataset registry": settings.registry_root,
        "weights": settings.weights_root,
        "audit log": settings.audit_log.parent,
        # tempfile: CIFAR's checked pickles, the COCO tokenizer's files.
        "temporary files": _env(_main(TRAINER)).get("TMPDIR", "/tmp"),
    }
    if settings.dataset_sources is not None:
        folders["dataset sources (--download)"] = settings.dataset_sources
    workdir = _workdir("trainer_svc")
    return {what: workdir / PurePosixPath(folder) for what, folder in folders.items()}


def _mount_holding(workload: str, path: PurePosixPath) -> dict | None:
    """The volume mount of the workload's container that ``path`` lies in (the deepest)."""
    holding = [
        mount
        for mount in _main(workload)["volumeMounts"]
        if path.is_relative_to(PurePosixPath(mount["mountPath"]))
    ]
    return max(holding, key=lambda mount: len(mount["mountPath"]), default=None)


def _volume(workload: str, name: str) -> dict:
    return next(v for v in _pod(workload)["spec"]["volumes"] if v["name"] == name)


def _not_writable(settings: TrainerSettings) -> dict[str, str]:
    """What of ``_trainer_writes`` lies on no writable volume, and why."""
    problems = {}
    for what, path in _trainer_writes(settings).items():
        mount = _mount_holding(TRAINER, path)
        if mount is None:
            problems[what] = f"{path} is on the read-only root filesystem"
            continue
        kinds = set(_volume(TRAINER, mount["name"])) - {"name"}
        if mount.get("readOnly") or not kinds <= WRITABLE_KINDS:
            problems[what] = f"{path} is on read-only volume {mount['name']} ({kinds})"
    return problems


def test_every_folder_the_trainer_writes_is_a_writable_volume(clean_environment):
    settings = _settings(TRAINER, clean_environment)
    assert _not_writable(settings) == {}


def test_the_writable_check_finds_a_folder_left_on_the_root_filesystem(clean_environment):
    # The registry's own default (var/datasets below the WORKDIR), as the manifest had it
    # before it set NASFORGE_TRAINER_REGISTRY_ROOT: registering failed with EROFS.
    default = TrainerSettings.model_fields["registry_root"].default
    settings = _settings(TRAINER, clean_environment).model_copy(update={"registry_root": default})
    assert set(_not_writable(settings)) == {"dataset registry"}
    assert (
        str(_workdir("trainer_svc") / "var/datasets") in _not_writable(settings)["dataset registry"]
    )


def test_held_out_labels_lie_on_the_node_beside_its_prepared_data_apart_from_it(
    clean_environment,
):
    settings = _settings(TRAINER, clean_environment)
    labels_mount = _mount_holding(TRAINER, PurePosixPath(settings.labels_root))
    data_mount = _mount_holding(TRAINER, PurePosixPath(settings.cache_root))
    assert labels_mount["name"] != data_mount["name"], "the labels are in the jobs' volume"
    assert not settings.labels_root.is_relative_to(settings.cache_root)
    # Per node, as the data they belong to: a hostPath each (an emptyDir is one pod's, a
    # claim would span nodes while each node has its own prepared data).
    labels_volume = _volume(TRAINER, labels_mount["name"])
    data_volume = _volume(TRAINER, data_mount["name"])
    assert set(labels_volume) == {"name", "hostPath"}
    assert labels_volume["hostPath"]["type"] == "Directory"  # made for uid 10001, 0700
    labels_host = PurePosixPath(labels_volume["hostPath"]["path"])
    data_host = PurePosixPath(data_volume["hostPath"]["path"])
    # The prepared data is the Docker volume's directory: <data-root>/volumes/<name>/_data.
    assert data_host.parts[-3:] == ("volumes", settings.prepared_volume, "_data")
    docker_root = data_host.parents[2]
    # Outside Docker's data-root, so that no Docker volume name reaches the labels.
    assert not labels_host.is_relative_to(docker_root), labels_host
    assert not docker_root.is_relative_to(labels_host), labels_host
    # And no other pod mounts them (docker-proxy's socket aside, nothing of the node's).
    for workload in WORKLOADS:
        for volume in _pod(workload)["spec"].get("volumes", []):
            if "hostPath" in volume and (workload, volume["name"]) != (TRAINER, "prepared-labels"):
                path = PurePosixPath(volume["hostPath"]["path"])
                assert not path.is_relative_to(labels_host), (workload, path)
                assert not labels_host.is_relative_to(path), (workload, path)


def test_the_trainers_proxy_lets_jobs_mount_the_prepared_data_never_the_labels(
    clean_environment,
):
    """The create bodies of trainer_svc's launcher, checked by the manifest's own proxy."""
    settings = _settings(TRAINER, clean_environment)
    proxy_settings = _settings("docker-proxy-trainer", clean_environment)
    # The only shared data the proxy mounts into a job is the prepared volume, read-only;
    # the other rules are per-job volumes (tmpfs only, created by the trainer per job).
    for rule in proxy_settings.volume_rules:
        assert rule == VolumeRule(settings.prepared_volume, writable=False) or (
            rule.writable and "{hex}" in rule.name
        ), rule
    policy = Policy.from_settings(proxy_settings)
    labels_host = _volume(TRAINER, "prepared-labels")["hostPath"]["path"]
    job_mounts = (
        Mount("/data", settings.prepared_volume, type="volume", read_only=True),
        Mount("/out", JOB_VOLUME, type="volume"),
    )

    def create(*extra: Mount):
        spec = check_spec(
            image=settings.image,
            role="train",
            entrypoint=["python3", "-m", "x"],
            mounts=job_mounts + extra,
            gpu=settings.gpu,
        )
        body = launcher_create_body(spec, namespace=settings.namespace)
        return policy.check("POST", "/v1.41/containers/create", json.dumps(body).encode())

    assert create().allowed, create().reason  # what container_run sends
    by_path = create(Mount("/labels", labels_host, type="bind", read_only=True))
    assert not by_path.allowed and "host path" in by_path.reason, by_path.reason
    by_name = create(Mount("/labels", "nasforge-prepared-labels", type="volume", read_only=True))
    assert not by_name.allowed and "not allowed" in by_name.reason, by_name.reason
    # Nor as a per-job volume that binds the host folder.
    bind_volume = {
        "Name": JOB_VOLUME,
        "Labels": {MANAGED_BY: settings.namespace},
        "Driver": "local",
        "DriverOpts": {"type": "none", "o": "bind", "device": labels_host},
    }
    created = policy.check("POST", "/v1.41/volumes/create", json.dumps(bind_volume).encode())
    assert not created.allowed and "tmpfs" in created.reason, created.reason


def test_dataset_registry_and_its_files_are_one_rwx_claim_shared_by_every_replica(
    clean_environment,
):
    # AddDataset reaches any replica; every replica must find the record and read the
    # files it names (compose: one `datasets` volume and one /datasets folder for all).
    deployment = WORKLOADS[TRAINER]
    assert deployment["spec"]["replicas"] > 1
    settings = _settings(TRAINER, clean_environment)
    assert settings.dataset_sources is not None, "registered files must be the replicas' own"
    for folder in (settings.registry_root, settings.dataset_sources):
        assert folder.is_absolute(), folder
        mount = _mount_holding(TRAINER, PurePosixPath(folder))
        assert mount is not None, folder
        assert not mount.get("readOnly") and "subPathExpr" not in mount, folder
        volume = _volume(TRAINER, mount["name"])
        assert set(volume) == {"name", "persistentVolumeClaim"}, "an emptyDir is one pod's"
        claim = _one("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"], folder
        assert claim["metadata"]["labels"][NAME_LABEL] == TRAINER
    # Files copied into the sources never land among the records (nor the reverse).
    assert not settings.registry_root.is_relative_to(settings.dataset_sources)
    assert not settings.dataset_sources.is_relative_to(settings.registry_root)
