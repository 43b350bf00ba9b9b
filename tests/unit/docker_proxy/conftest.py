"""Create bodies exactly as sandbox_runner's launcher sends them (docker-py, no engine)."""

import json

import docker
import pytest
from docker.types import Mount

from docker_proxy.config import Namespace, VolumeRule
from docker_proxy.policy import Policy
from sandbox_runner.containers import ContainerSpec, Launcher, Limits

IMAGE = "nasforge-runtime:cpu"
VOLUMES = (VolumeRule("nasforge-out-{hex}", True), VolumeRule("nasforge-prepared", False))
NAMESPACE = "nasforge-test"  # the launcher's below


def make_policy(
    volumes: tuple[VolumeRule, ...] = VOLUMES,
    namespace: str = NAMESPACE,
    allow_gpus: bool = False,
    **options,
) -> Policy:
    """The policy of a proxy serving ``namespace``, as the test launcher's proxy would be."""
    return Policy((IMAGE,), volumes, allow_gpus, namespace=Namespace(namespace), **options)


class _Captured(Exception):
    def __init__(self, config: dict) -> None:
        super().__init__("captured")
        self.config = config


def launcher_create_body(
    spec: ContainerSpec, namespace: str = NAMESPACE, runtimes: tuple[str, ...] = ("runc",)
) -> dict:
    """The JSON body of POST /containers/create that Launcher.start(spec) sends, on an
    engine that lists ``runtimes`` (the launcher picks gVisor's runsc when listed)."""
    client = docker.DockerClient(base_url="tcp://127.0.0.1:9", version="1.41")
    client.api.info = lambda: {"Runtimes": {name: {} for name in runtimes}}

    def capture(config, name=None, platform=None):
        raise _Captured(config)

    client.api.create_container_from_config = capture
    try:
        Launcher(client, namespace).start(spec)
    except _Captured as captured:
        return json.loads(json.dumps(captured.config))
    finally:
        client.close()
    raise AssertionError("the launcher did not create a container")


def check_spec(**overrides) -> ContainerSpec:
    return ContainerSpec(
        **{"image": IMAGE, "role": "check", "limits": Limits(), "lifetime_seconds": 60, **overrides}
    )


def train_spec(**overrides) -> ContainerSpec:
    mounts = (
        Mount("/data", "nasforge-prepared", type="volume", read_only=True),
        Mount("/out", "nasforge-out-0123abcd", type="volume"),
    )
    return check_spec(role="train", entrypoint=["python3", "-m", "x"], mounts=mounts, **overrides)


@pytest.fixture
def policy() -> Policy:
    return make_policy()


@pytest.fixture
def check_body() -> dict:
    return launcher_create_body(check_spec())


@pytest.fixture
def train_body() -> dict:
    return launcher_create_body(train_spec())
