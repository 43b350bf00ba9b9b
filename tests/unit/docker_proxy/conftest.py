"""Create bodies exactly as sandbox_runner's launcher sends them (docker-py, no engine)."""

import json

import docker
import pytest
from docker.types import Mount

from docker_proxy.config import VolumeRule
from docker_proxy.policy import Policy
from sandbox_runner.containers import ContainerSpec, Launcher, Limits

IMAGE = "nasforge-runtime:cpu"
VOLUMES = (VolumeRule("nasforge-out-", True), VolumeRule("nasforge-prepared", False))


class _Captured(Exception):
    def __init__(self, config: dict) -> None:
        super().__init__("captured")
        self.config = config


def launcher_create_body(spec: ContainerSpec) -> dict:
    """The JSON body of POST /containers/create that Launcher.start(spec) sends."""
    client = docker.DockerClient(base_url="tcp://127.0.0.1:9", version="1.41")

    def capture(config, name=None, platform=None):
        raise _Captured(config)

    client.api.create_container_from_config = capture
    try:
        Launcher(client, "nasforge-test").start(spec)
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
    return Policy((IMAGE,), VOLUMES, allow_gpus=False)


@pytest.fixture
def check_body() -> dict:
    return launcher_create_body(check_spec())


@pytest.fixture
def train_body() -> dict:
    return launcher_create_body(train_spec())
