"""`python -m sandbox_runner` killed mid-check leaves containers behind; its next start reaps them.

The real service runs as a subprocess in its own label namespace, called over gRPC; SIGKILL
gives it no chance to clean up, so only the start-up reaper of the next run can.
"""

import asyncio
import os
import re
import signal
import sys
import time
import uuid

import grpc
import pytest

from nasforge.common.v1 import common_pb2
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2 as pb
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2_grpc as pb_grpc
from netapi.tasks import IMG_CLASSIFICATION
from rpc.client import open_channel
from sandbox_runner.containers import Launcher, docker_client
from tests.integration.sandbox.conftest import GOOD_CLASSIFIER, REPO_ROOT, corpus

# Passes the static checks (the wire has no way to skip them), then loops in forward.
LOOPING = corpus(GOOD_CLASSIFIER).replace(
    "    def forward(self, x):\n",
    "    def forward(self, x):\n        while True:\n            x = x + 0\n",
    1,
)


class Service:
    """One `python -m sandbox_runner` subprocess; its output is kept for failure messages."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self.port = 0
        self._drain: asyncio.Task | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            "NASFORGE_SANDBOX_NAMESPACE": self.namespace,
            "NASFORGE_SANDBOX_PORT": "0",
            "NASFORGE_SANDBOX_PLAINTEXT": "true",
            "NASFORGE_SANDBOX_ALLOW_ANONYMOUS_TENANT": "acme",
            "NASFORGE_SANDBOX_POOL_SIZE": "1",
            "NASFORGE_SANDBOX_NAME_INDEX_PATH": str(REPO_ROOT / "var" / "torch_index.json"),
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sandbox_runner",
            cwd=REPO_ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while not self.port:
            line = await asyncio.wait_for(
                self.process.stdout.readline(), max(0.1, deadline - time.monotonic())
            )
            if not line:
                raise AssertionError(f"the service exited before listening: {self.log()}")
            self.output.append(line.decode(errors="replace"))
            match = re.search(r"sandbox_runner listening on port (\d+)", self.output[-1])
            self.port = int(match.group(1)) if match else 0
        self._drain = asyncio.create_task(self._keep_reading())

    async def _keep_reading(self) -> None:
        async for line in self.process.stdout:
            self.output.append(line.decode(errors="replace"))

    async def stop(self, signum: int, timeout_seconds: float = 60) -> int:
        self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), timeout_seconds)
        if self._drain is not None:
            await asyncio.wait_for(self._drain, 10)
        return code

    def kill_if_running(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    def log(self) -> str:
        return "".join(self.output[-30:])


async def _wait_for(predicate, timeout_seconds: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return await predicate()


@pytest.fixture
def namespace():
    return f"nasforge-test-restart-{uuid.uuid4().hex[:10]}"


async def test_restart_reaps_what_a_killed_service_left_behind(namespace):
    """SIGKILL mid-check leaves the check's container (still running) and the warm one; the
    next start removes both before it listens (and starts none: warm containers are made for
    a tenant once it checks); SIGTERM then exits 0 and nothing of the namespace remains."""
    client = docker_client()
    launcher = Launcher(client, namespace)

    async def live() -> set[str]:
        return set(await asyncio.to_thread(launcher.leftovers, expired_only=False))

    first, second = Service(namespace), Service(namespace)
    channel = None
    try:
        await first.start()
        channel = open_channel(f"127.0.0.1:{first.port}", token=None)
        good = pb.CheckCandidateRequest(
            code=corpus(GOOD_CLASSIFIER), task=common_pb2.TaskSpec(task=IMG_CLASSIFICATION)
        )
        await pb_grpc.SandboxServiceStub(channel).CheckCandidate(good, timeout=120)  # cold
        # acme has checked: the pool keeps a warm container for acme from now on
        assert await _wait_for(lambda: _count_is(live, 1), 60), first.log()
        warm_before_check = await live()
        (warm_id,) = warm_before_check
        assert await _wait_for(lambda: _is_ready(client, warm_id), 60), first.log()

        request = pb.CheckCandidateRequest(
            code=LOOPING,
            task=common_pb2.TaskSpec(task=IMG_CLASSIFICATION),
            timeout_ms=240_000,
            candidate_id="restart-looping",
        )
        call = asyncio.ensure_future(
            pb_grpc.SandboxServiceStub(channel).CheckCandidate(request, timeout=300)
        )
        # The check takes the warm container; the pool starts another in its place.
        assert await _wait_for(lambda: _count_is(live, 2), 60), first.log()
        await asyncio.sleep(1.0)  # the job is sent and forward is looping
        assert not call.done(), call
        left_behind = await live()
        assert warm_before_check <= left_behind

        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await asyncio.wait_for(call, 30)
        assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
        await channel.close()
        channel = None
        assert left_behind <= await live(), "the killed service's containers vanished by themselves"
        state = await asyncio.to_thread(client.api.inspect_container, warm_id)
        assert state["State"]["Running"], "the looping check container should still be running"

        await second.start()  # the reaper runs before the server listens
        assert await _wait_for(lambda: _none_of(live, left_behind), 5), second.log()
        assert f"leftover containers of {namespace}" in "".join(second.output), second.log()
        assert await live() == set(), second.log()  # no tenant has checked yet: no warm one

        assert await second.stop(signal.SIGTERM) == 0, second.log()
        assert await _wait_for(lambda: _count_is(live, 0), 10), await live()
    finally:
        if channel is not None:
            await channel.close()
        first.kill_if_running()
        second.kill_if_running()
        await asyncio.to_thread(launcher.reap, expired_only=False)


async def _is_ready(client, container_id: str) -> bool:
    """The harness wrote its ready line (json-file logs keep stdout)."""
    logs = await asyncio.to_thread(client.api.logs, container_id, stdout=True, stderr=False)
    return b'"ready": true' in logs


async def _count_is(live, count: int) -> bool:
    return len(await live()) == count


async def _none_of(live, ids: set[str]) -> bool:
    return not (await live() & ids)
