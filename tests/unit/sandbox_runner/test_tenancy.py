"""The warm pool per tenant and the per-tenant check limit, with an in-memory engine.

The containers here are stand-ins that answer the harness's ready line and then hold the
check until the test lets it end; tests/integration/sandbox runs the same rules for real.
"""

import asyncio
import json
import pathlib
import threading
import time

import pytest

from netapi.code_policy import load_policy
from netapi.tasks import default_spec
from rpc.audit import AuditLog, read_records
from rpc.errors import QuotaExceeded, Unavailable
from rpc.tenants import Quotas
from sandbox_runner.config import SandboxSettings
from sandbox_runner.containers import ContainerSpec, Limits
from sandbox_runner.core import SandboxChecker
from sandbox_runner.pool import WarmPool

CORPUS = pathlib.Path(__file__).resolve().parents[1] / "netapi" / "corpus"
GOOD = (CORPUS / "01_good_cnn.py").read_text()
SPEC = default_spec("img-classification")


class StandInContainer:
    """Says ready, takes one job, ends without a result when its gate opens."""

    def __init__(self, number: int, spec: ContainerSpec, gate: threading.Event) -> None:
        self.id = f"{number:012d}" + "f" * 52
        self.tenant = spec.tenant
        self.started_at = time.monotonic()
        self.stderr_tail = b""
        self.destroyed = False
        self._gate = gate
        self._ready_sent = False

    def read_line(self, deadline: float) -> bytes | None:
        if not self._ready_sent:
            self._ready_sent = True
            return json.dumps({"ready": True}).encode()
        self._gate.wait(10)
        return None

    def send_line(self, line: bytes) -> None:
        pass

    def wait_exit(self, timeout_seconds: float) -> dict:
        return {"ExitCode": 1}

    def kill(self) -> None:
        pass

    def destroy(self) -> None:
        self.destroyed = True


class StandInLauncher:
    namespace = "nasforge-unit"
    runtime = "runsc"

    def resolve_runtime(self) -> str:
        return self.runtime

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started: list[StandInContainer] = []

    def start(self, spec: ContainerSpec) -> StandInContainer:
        container = StandInContainer(len(self.started), spec, self.gate)
        self.started.append(container)
        return container

    def reap(self, *, expired_only: bool) -> int:
        return 0


def stand_ins():
    """A pool's start_warm making stand-ins, and the tenants it made them for."""
    made: list[str] = []

    def start_warm(tenant: str) -> StandInContainer:
        made.append(tenant)
        spec = ContainerSpec("img", "check", Limits(), 60, tenant=tenant)
        return StandInContainer(len(made), spec, threading.Event())

    return start_warm, made


async def until(condition, timeout_seconds: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    for _ in range(10_000):
        if condition() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    assert condition()


async def settle(pool: WarmPool) -> None:
    for _ in range(100):
        await asyncio.sleep(0.01)
        if pool._filling is None or pool._filling.done():
            return


async def test_a_warm_container_goes_only_to_the_tenant_it_was_made_for():
    start_warm, made = stand_ins()
    pool = WarmPool(start_warm, size=4, max_idle_seconds=600, per_tenant=2)
    pool.start()
    await settle(pool)
    assert made == []  # nothing is made before a tenant checks

    container, mode = await pool.take("acme")
    assert (mode, container.tenant) == ("cold", "acme")
    await settle(pool)
    assert pool.ready_for("acme") == 2 and made.count("acme") == 3

    container, mode = await pool.take("globex")  # acme's warm ones are not for globex
    assert (mode, container.tenant) == ("cold", "globex")
    container, mode = await pool.take("acme")
    assert (mode, container.tenant) == ("warm", "acme")
    await settle(pool)
    assert pool.ready_count <= 4
    assert pool.ready_for("acme") == 2 and pool.ready_for("globex") == 2
    await pool.close()


async def test_the_pool_is_bounded_in_total_and_shared_evenly():
    start_warm, _ = stand_ins()
    pool = WarmPool(start_warm, size=2, max_idle_seconds=600, per_tenant=2)
    await pool.take("acme")
    await settle(pool)
    assert pool.ready_for("acme") == 2
    await pool.take("globex")  # two tenants: one each
    await settle(pool)
    assert (pool.ready_for("acme"), pool.ready_for("globex")) == (1, 1)
    await pool.take("initech")  # a third: the least recently used tenant gives way
    await settle(pool)
    assert pool.ready_count == 2
    assert pool.ready_for("initech") == 1 and pool.ready_for("acme") == 0
    assert pool.evicted >= 1
    await pool.close()


async def test_idle_tenants_are_dropped_with_their_containers():
    start_warm, _ = stand_ins()
    pool = WarmPool(start_warm, size=2, max_idle_seconds=0.2, per_tenant=1)
    await pool.take("acme")
    await settle(pool)
    assert pool.ready_for("acme") == 1
    await asyncio.sleep(0.3)
    _, mode = await pool.take("globex")
    assert mode == "cold" and pool.ready_for("acme") == 0 and "acme" not in pool._tenants
    await pool.close()


@pytest.fixture
def launcher():
    return StandInLauncher()


def settings(**overrides) -> SandboxSettings:
    fields = {
        "namespace": "nasforge-unit",
        "pool_size": 0,
        "name_index_path": pathlib.Path("/nonexistent/index.json"),
        "max_concurrent_checks": 4,
        "per_tenant_concurrency": 2,
    }
    return SandboxSettings(**{**fields, **overrides})


async def test_a_check_over_the_tenants_limit_is_refused_at_once(launcher, tmp_path):
    quotas = {"acme": Quotas(concurrent_checks=1)}
    checker = SandboxChecker(
        settings(),
        launcher,
        load_policy(settings()),
        quotas=lambda tenant: quotas.get(tenant, Quotas()),
    )
    await checker.start()
    first = asyncio.create_task(checker.check(GOOD, SPEC, tenant="acme"))
    await until(lambda: checker.in_flight["acme"] == 1)

    started = time.monotonic()
    with pytest.raises(QuotaExceeded) as refused:
        await checker.check(GOOD, SPEC, tenant="acme")
    assert time.monotonic() - started < 0.5
    (violation,) = refused.value.violations
    assert (violation.subject, violation.quota_id, violation.limit) == (
        "tenant:acme",
        "concurrent_checks",
        1,
    )
    assert refused.value.retry_after_seconds is not None

    # globex has no quota in the registry: the setting's 2 apply, and acme does not block it
    others = [asyncio.create_task(checker.check(GOOD, SPEC, tenant="globex")) for _ in range(2)]
    await until(lambda: checker.in_flight["globex"] == 2)
    with pytest.raises(QuotaExceeded, match="limit is 2"):
        await checker.check(GOOD, SPEC, tenant="globex")
    assert {c.tenant for c in launcher.started} == {"acme", "globex"}

    launcher.gate.set()
    await asyncio.gather(first, *others)
    assert checker.in_flight == {}
    await checker.check(GOOD, SPEC, tenant="acme")  # its slot is free again
    await checker.close()
    assert all(container.destroyed for container in launcher.started)


async def test_every_check_is_audited_with_its_container(launcher, tmp_path):
    launcher.gate.set()
    audit = AuditLog(tmp_path / "audit.log", "sandbox_runner")
    checker = SandboxChecker(settings(), launcher, load_policy(settings()), audit=audit)
    await checker.start()
    await checker.check(GOOD, SPEC, tenant="acme", candidate_id="c-1")
    await checker.check("import einops\n", SPEC, tenant="acme", candidate_id="c-2")
    await checker.close()
    audit.close()
    container, static = list(read_records(tmp_path / "audit.log"))
    assert container["event"] == "check_ran" and container["tenant"] == "acme"
    assert container["container_id"] == launcher.started[0].id[:12]
    assert container["mode"] == "cold" and container["candidate_id"] == "c-1"
    assert container["runtime"] == "runsc" and static["runtime"] == ""
    assert len(container["code_md5"]) == 32 and container["duration_ms"] >= 0
    assert static["mode"] == "static" and static["container_id"] == ""


async def test_two_replicas_on_one_quota_ledger_share_the_tenants_limit(tmp_path):
    """Each replica has its own containers and queue; the tenant's checks in flight are
    counted once, in the shared ledger, so two replicas do not grant twice the limit."""
    quotas = {"acme": Quotas(concurrent_checks=2)}
    launchers = [StandInLauncher(), StandInLauncher()]
    replicas = [
        SandboxChecker(
            settings(quota_ledger=str(tmp_path / "ledger.db")),
            launcher,
            load_policy(settings()),
            quotas=lambda tenant: quotas.get(tenant, Quotas()),
        )
        for launcher in launchers
    ]
    for replica in replicas:
        await replica.start()
    running = [asyncio.create_task(r.check(GOOD, SPEC, tenant="acme")) for r in replicas]
    await until(lambda: all(r.in_flight["acme"] == 1 for r in replicas))
    for replica in replicas:  # each has one in flight of its own, the tenant has two
        with pytest.raises(QuotaExceeded, match="has 2 checks in flight, its limit is 2"):
            await replica.check(GOOD, SPEC, tenant="acme")
    for launcher in launchers:
        launcher.gate.set()
    await asyncio.gather(*running)
    await replicas[1].check(GOOD, SPEC, tenant="acme")  # the places are back
    for replica in replicas:
        await replica.close()


async def test_a_check_is_refused_unavailable_when_the_quota_ledger_is_out_of_reach(
    launcher, tmp_path
):
    checker = SandboxChecker(
        settings(quota_ledger=str(tmp_path)),  # a folder: no database opens there
        launcher,
        load_policy(settings()),
    )
    await checker.start()
    with pytest.raises(Unavailable, match="quota ledger"):
        await checker.check(GOOD, SPEC, tenant="acme")
    assert checker.in_flight == {} and launcher.started == []
    await checker.close()
