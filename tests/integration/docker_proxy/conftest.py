"""`python -m docker_proxy` on a free port of 127.0.0.1 in front of the real engine.

Marked `docker` like the other container suites (tests/integration/conftest.py lists its
suites by folder; this one marks itself): `make test` / .ci/run start the engine first, and
without one these tests fail rather than skip.
"""

import os
import re
import signal
import subprocess
import sys
import uuid

import docker
import pytest

from sandbox_runner.containers import MANAGED_BY

pytestmark = pytest.mark.docker


# The namespace the module's proxy serves; `namespace` below makes names that match it.
PROXY_NAMESPACE = "nasforge-test-proxy-{hostname}"


class ProxyProcess:
    """The proxy as a child process; its port read from the line it prints."""

    def __init__(self, namespace: str = PROXY_NAMESPACE, **env: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "docker_proxy"],
            env={
                **os.environ,
                "NASFORGE_DOCKER_PROXY_HOST": "127.0.0.1",
                "NASFORGE_DOCKER_PROXY_PORT": "0",
                "NASFORGE_DOCKER_PROXY_DOCKER_SOCKET": "/var/run/docker.sock",
                "NASFORGE_DOCKER_PROXY_NAMESPACE": namespace,
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        for line in self.process.stdout:
            self.output.append(line)
            if match := re.search(r"docker_proxy listening on port (\d+)", line):
                self.port = int(match.group(1))
                return
        raise AssertionError(f"docker_proxy exited before listening: {''.join(self.output)}")

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def stop(self) -> str:
        """SIGTERM; the proxy must exit 0. Returns everything it wrote."""
        self.process.send_signal(signal.SIGTERM)
        rest, _ = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, rest
        return "".join(self.output) + rest


@pytest.fixture(scope="module")
def proxy():
    running = ProxyProcess()
    yield running
    running.stop()


@pytest.fixture
def engine():
    """A client of the engine itself (unix socket): to see what really happened."""
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock")
    yield client
    client.close()


@pytest.fixture
def proxied(proxy):
    """A docker-py client that reaches the engine only through the proxy."""
    client = docker.DockerClient(base_url=proxy.url, timeout=60)
    yield client
    client.close()


@pytest.fixture
def namespace(engine):
    """A label namespace of the proxy's pattern; its containers and volumes are removed after."""
    name = f"nasforge-test-proxy-{uuid.uuid4().hex[:10]}"
    yield name
    selector = {"label": f"{MANAGED_BY}={name}"}
    for container in engine.containers.list(all=True, filters=selector):
        container.remove(force=True, v=True)
    for volume in engine.volumes.list(filters=selector):
        volume.remove(force=True)
