"""Fixtures: the embedded model server (a real process with the real 0.5B model), the canned
TGI peer, and a gateway served over real gRPC on 127.0.0.1:0.

The model-backed tests need `scripts/install_llm.sh` to have run (llama-cpp-python and
var/models/qwen2.5-coder-0.5b.gguf); without it they fail and say so. The server gets one
llama.cpp thread (its threads spin, and this machine's two cores are shared) and every test
asks for a handful of greedy tokens, so the model tests take seconds, not minutes.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from llm_gateway.config import GatewaySettings, ModelConfig, TenantLimits
from llm_gateway.core import LlmGateway
from llm_gateway.metrics import GatewayMetrics
from llm_gateway.server import gateway_binding
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from netapi.code_policy import load_policy
from rpc.auth import hash_token
from rpc.client import open_channel
from rpc.server import start_server
from rpc.tenants import TenantDirectory
from tests.integration.llm_gateway.tgi_peer import TgiPeer

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
MODEL = REPO_ROOT / "var" / "models" / "qwen2.5-coder-0.5b.gguf"
INDEX = REPO_ROOT / "var" / "torch_index.json"
TOKEN = "tok-gateway-acme"
EMBEDDED_MAX_CONCURRENT = 3


def start_process(args: list[str], env: dict[str, str], ready: str) -> tuple[subprocess.Popen, int]:
    """Start a server process and read its port from the line that starts with ``ready``.

    Its log goes to a file (a pipe nobody reads would fill up and stall it).
    """
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    process.log = log
    line = process.stdout.readline()
    if not line.startswith(ready):
        process.kill()
        log.seek(0)
        raise RuntimeError(f"{args} did not start: {line!r} {log.read()[-2000:]}")
    return process, int(line.rsplit(" ", 1)[1])


def stop_process(process: subprocess.Popen) -> int:
    process.terminate()
    try:
        return process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(10)


def start_embedded(**settings: str) -> tuple[subprocess.Popen, str]:
    """`python -m llm_gateway.embedded` with the 0.5B model and NASFORGE_EMBEDDED_<settings>."""
    if not MODEL.is_file():
        pytest.fail(f"{MODEL} is missing: run `bash scripts/install_llm.sh` (make llm) first")
    environment = {
        "NASFORGE_EMBEDDED_PORT": "0",
        "NASFORGE_EMBEDDED_MODEL_PATH": str(MODEL),
        "NASFORGE_EMBEDDED_THREADS": "1",
        "NASFORGE_EMBEDDED_MAX_TOTAL_TOKENS": "2048",
        "NASFORGE_EMBEDDED_MAX_INPUT_TOKENS": "1536",
        "NASFORGE_EMBEDDED_MAX_CONCURRENT_REQUESTS": str(EMBEDDED_MAX_CONCURRENT),
    }
    environment |= {f"NASFORGE_EMBEDDED_{name.upper()}": value for name, value in settings.items()}
    process, port = start_process(
        ["-m", "llm_gateway.embedded"], environment, "embedded model server listening on port"
    )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def embedded_url():
    """The embedded server without a reasoning parser, for the whole session."""
    process, url = start_embedded()
    yield url
    assert stop_process(process) == 0


@pytest.fixture
async def peer():
    """The canned TGI peer (see tgi_peer.py); tests change ``peer.behaviour``."""
    instance = TgiPeer()
    await instance.start()
    yield instance
    await instance.stop()


def dead_url() -> str:
    """A 127.0.0.1 URL where nothing listens (a port just released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def model(name: str, url: str, backend: str = "tgi", **fields) -> ModelConfig:
    defaults = {
        "max_total_tokens": 2048,
        "default_max_new_tokens": 16,
        "max_new_tokens_limit": 256,
        "timeout_seconds": 60,
    }
    if backend == "openai":
        defaults["upstream_model"] = MODEL.stem  # the name the embedded server serves
    return ModelConfig(name=name, backend=backend, url=url, **{**defaults, **fields})


class Gateway:
    """A served gateway: its stub, its metrics registry and the core behind it."""

    def __init__(self, stub, registry: CollectorRegistry, core: LlmGateway, port: int) -> None:
        self.stub = stub
        self.registry = registry
        self.core = core
        self.port = port

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        assert value is not None, f"no sample {name}{labels}"
        return value


@pytest.fixture
async def serve_gateway(tmp_path) -> Callable:
    """Serve a gateway for the given models and settings; everything is torn down after."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{"sha256": hash_token(TOKEN), "tenant": "acme"}]}))
    started = []

    async def serve(
        models: list[ModelConfig], *, tenants: TenantDirectory | None = None, **overrides
    ) -> Gateway:
        """``tenants``: a tenant registry to authenticate against and take quotas from."""
        defaults = {
            "retry_initial_backoff_seconds": 0.02,
            "retry_max_backoff_seconds": 0.1,
            "tenant_limits": {"acme": TenantLimits(requests_per_second=1000, burst=1000)},
        }
        settings = GatewaySettings(
            models=models,
            auth_tokens_file=tokens,
            name_index_path=INDEX,
            plaintext=True,  # one service in isolation; TLS is tested in tests/unit/rpc
            **{**defaults, **overrides},
        )
        registry = CollectorRegistry()
        metrics = GatewayMetrics.for_settings(registry, settings)
        core = LlmGateway(
            settings,
            policy=load_policy(settings),
            observer=metrics,
            quotas=tenants.quotas if tenants is not None else None,
        )
        running = await start_server(
            [gateway_binding(core)], settings, registry=registry, tenants=tenants
        )
        channel = open_channel(f"127.0.0.1:{running.port}", token=TOKEN, default_timeout_seconds=90)
        started.append((running, channel, core))
        return Gateway(pb_grpc.LlmGatewayServiceStub(channel), registry, core, running.port)

    yield serve
    for running, channel, core in started:
        await channel.close()
        await running.shutdown(0)
        await core.close()


def elapsed(since: float) -> float:
    return time.monotonic() - since
