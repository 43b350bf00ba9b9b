"""Fixtures for tests that run real containers: a checker in its own label namespace.

Every test here is marked `docker`; `make test` starts the engine and builds the runtime
image first. After each test the namespace must hold no container: a leak fails the test.
Containers run under the default runtime setting (auto: gVisor's runsc where the engine has
it); a test whose expectations differ by runtime reads ``launcher.runtime``, and one that
must see both asks for them with ``@pytest.mark.parametrize("runtime", RUNTIMES,
indirect=True)`` (runsc is skipped where the engine lacks it).
"""

import pathlib
import uuid

import pytest

from netapi.code_policy import load_policy
from sandbox_runner.config import SandboxSettings
from sandbox_runner.containers import Launcher, docker_client, engine_runtimes
from sandbox_runner.core import SandboxChecker

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "unit" / "netapi" / "corpus"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


def corpus(name: str) -> str:
    """Source of a corpus candidate, e.g. corpus('01_good_cnn')."""
    return (CORPUS / f"{name}.py").read_text()


GOOD_CLASSIFIER = "01_good_cnn"
GOOD_CAPTIONER = "06_good_caption_cnn_lstm"


@pytest.fixture
def namespace():
    return f"nasforge-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def runtime(request) -> str:
    """The runtime setting: auto, or the one a test is parametrised with (indirect)."""
    wanted = getattr(request, "param", "auto")
    if wanted == "runsc" and "runsc" not in (engine_runtimes(docker_client()) or {"runsc"}):
        pytest.skip("the Docker engine has no runsc (gVisor) runtime")
    return wanted


@pytest.fixture
def settings(namespace, runtime):
    return SandboxSettings(
        namespace=namespace,
        runtime=runtime,
        pool_size=0,
        timeout_seconds=20,
        name_index_path=REPO_ROOT / "var" / "torch_index.json",
        memory_bytes=1024**3,
        reap_interval_seconds=3600,
        plaintext=True,  # one service in isolation; TLS is tested in tests/unit/rpc
    )


@pytest.fixture
def launcher(settings):
    launcher = Launcher(
        docker_client(), settings.namespace, settings.output_cap_bytes, settings.runtime
    )
    launcher.resolve_runtime()
    return launcher


@pytest.fixture
async def checker(settings, launcher):
    """A started checker; after the test, no container of its namespace may remain."""
    instance = SandboxChecker(settings, launcher, load_policy(settings))
    await instance.start()
    yield instance
    await instance.close()
    leftovers = launcher.leftovers(expired_only=False)
    launcher.reap(expired_only=False)
    assert leftovers == [], f"containers left behind: {leftovers}"
