"""The check of one candidate: static checks first, then one single-use container."""

import asyncio
import collections
import json
import logging
import secrets
import time
from dataclasses import replace
from typing import Protocol

import docker.errors

from netapi.code_policy import CodePolicy
from netapi.harness.protocol import READY_KEY, ProtocolError, job_line, parse_result
from netapi.outcomes import Outcome
from netapi.static_check import check_source
from netapi.tasks import TaskSpec
from rpc.admission import QuotaLookup, tenant_limit
from rpc.audit import AuditLog, source_md5
from rpc.errors import InvalidArgument, QuotaExceeded
from rpc.quota_ledger import Hold, QuotaLedger, Refusal, open_ledger
from sandbox_runner.config import SandboxSettings
from sandbox_runner.containers import (
    AttachedContainer,
    ContainerSpec,
    DeadlineExceeded,
    InfraError,
    Launcher,
    Limits,
    OutputFlood,
    RuntimeUnavailable,
)
from sandbox_runner.pool import WarmPool
from sandbox_runner.verdicts import (
    CheckResult,
    failed,
    from_container,
    from_static,
    with_static_warnings,
)

log = logging.getLogger(__name__)

_STATE_WAIT_SECONDS = 5.0


class CheckObserver(Protocol):
    """Where the checker reports what it did (sandbox_runner.metrics implements it)."""

    def check_finished(self, result: CheckResult) -> None: ...

    def pool_changed(self, ready: int, running: int) -> None: ...


class _NoObserver:
    def check_finished(self, result: CheckResult) -> None:
        pass

    def pool_changed(self, ready: int, running: int) -> None:
        pass


class SandboxChecker:
    """Checks candidates; bounds containers at once, per tenant, and the queue before them.

    A tenant's checks in flight (queued or running) are bounded by its ``concurrent_checks``
    quota (``quotas(tenant)``; unset: ``per_tenant_concurrency``): one more is refused at
    once, so a tenant at its limit never holds a place in the queue others wait in. They are
    counted in the quota ledger (``ledger``; unset: settings.quota_ledger), so replicas on a
    shared one bound them together; containers at once and the queue are this replica's.
    """

    def __init__(
        self,
        settings: SandboxSettings,
        launcher: Launcher,
        policy: CodePolicy,
        observer: CheckObserver | None = None,
        *,
        quotas: QuotaLookup | None = None,
        audit: AuditLog | None = None,
        ledger: QuotaLedger | None = None,
    ) -> None:
        self._settings = settings
        self._launcher = launcher
        self.policy = policy
        self._observer = observer or _NoObserver()
        self._quotas = quotas
        self._audit = audit
        self._ledger = ledger if ledger is not None else open_ledger(settings.quota_ledger)
        self._limits = Limits(
            memory_bytes=settings.memory_bytes,
            cpus=settings.cpus,
            pids=settings.pids_limit,
            tmpfs_bytes=settings.tmpfs_bytes,
            shm_bytes=settings.shm_bytes,
        )
        self.pool = WarmPool(
            self._start_warm,
            settings.pool_size,
            settings.pool_max_idle_seconds,
            settings.pool_per_tenant,
        )
        self._slots = asyncio.Semaphore(settings.max_concurrent_checks)
        # tenant -> checks in flight here (the ledger counts those of every replica)
        self.in_flight: collections.Counter[str] = collections.Counter()
        self._waiting = 0
        self.running = 0
        self._destroying: set[asyncio.Task] = set()
        self._reaper: asyncio.Task | None = None

    async def start(self) -> None:
        """Choose the container runtime, remove what an earlier run left behind, fill the
        pool, start the reaper.

        An engine that is down does not stop the service: checks answer infra_error and the
        pool and the reaper retry until it is back. An explicit runsc that the engine lacks
        does (RuntimeUnavailable): the operator asked for a boundary this host cannot give.
        """
        try:
            await asyncio.to_thread(self._launcher.resolve_runtime)
        except RuntimeUnavailable:
            raise
        except InfraError as exc:
            log.error("Docker engine unavailable at start-up: %s", exc)
        try:
            await asyncio.to_thread(self._launcher.reap, expired_only=False)
        except docker.errors.DockerException as exc:
            log.error("Docker engine unavailable at start-up: %s", exc)
        self.pool.start()
        self._reaper = asyncio.get_running_loop().create_task(self._reap_periodically())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        if self._destroying:
            await asyncio.wait(set(self._destroying), timeout=60)
        await self.pool.close()
        await asyncio.to_thread(self._ledger.close)

    async def _reap_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._settings.reap_interval_seconds)
            try:
                await asyncio.to_thread(self._launcher.reap, expired_only=True)
            except Exception:
                log.exception("reaper sweep failed")

    def _container_spec(self, tenant: str) -> ContainerSpec:
        lifetime = (
            self._settings.pool_max_idle_seconds
            + self._settings.max_timeout_seconds
            + self._settings.ready_timeout_seconds
        )
        return ContainerSpec(
            image=self._settings.image,
            role="check",
            limits=self._limits,
            lifetime_seconds=lifetime,
            tenant=tenant,
        )

    def _start_warm(self, tenant: str) -> AttachedContainer:
        """Start a container for ``tenant``; wait until the harness is ready (blocking)."""
        container = self._launcher.start(self._container_spec(tenant))
        try:
            line = container.read_line(time.monotonic() + self._settings.ready_timeout_seconds)
            if line is None or json.loads(line).get(READY_KEY) is not True:
                raise InfraError(f"runtime image did not get ready: {container.stderr_tail!r}")
        except (DeadlineExceeded, OutputFlood, json.JSONDecodeError, InfraError, OSError) as exc:
            container.destroy()
            raise InfraError(f"runtime container failed to start: {exc}") from exc
        return container

    def _time_limit(self, requested: float | None) -> float:
        if requested is None or requested <= 0:
            return self._settings.timeout_seconds
        if requested > self._settings.max_timeout_seconds:
            raise InvalidArgument(
                f"timeout {requested}s is over the maximum {self._settings.max_timeout_seconds}s"
            )
        return requested

    async def check(
        self,
        code: str,
        spec: TaskSpec,
        *,
        tenant: str,
        parameter_budget: int | None = None,
        timeout_seconds: float | None = None,
        candidate_id: str = "",
        skip_static: bool = False,
    ) -> CheckResult:
        """The verdict on one candidate. Candidate faults are outcomes, never exceptions.

        ``skip_static`` sends the code to a container even when the static checks would stop
        it: only for tests of the container boundary itself, never reachable from the wire.
        """
        started = time.monotonic()
        limit_seconds = self._time_limit(timeout_seconds)
        budget = parameter_budget or self._settings.parameter_budget
        verdict = check_source(code, spec.task, self.policy)
        container_id = ""
        if verdict.outcome is not Outcome.SUCCESS and not skip_static:
            result = from_static(verdict)
        else:
            result, container_id = await self._check_in_container(
                code, spec, tenant, budget, limit_seconds
            )
            result = with_static_warnings(result, verdict.warnings)
        result = _with_wall_time(result, started)
        log.info(
            "check %s tenant=%s outcome=%s mode=%s %.0fms",
            candidate_id or "-",
            tenant,
            result.outcome.value,
            result.mode,
            result.wall_time_ms,
        )
        self._observer.check_finished(result)
        if self._audit is not None:
            await asyncio.to_thread(
                self._audit.record,
                "check_ran",
                tenant,
                candidate_id=candidate_id,
                container_id=container_id[:12],
                image=self._settings.image if container_id else "",
                runtime=(self._launcher.runtime or "") if container_id else "",
                code_md5=source_md5(code),
                outcome=result.outcome.value,
                mode=result.mode,
                duration_ms=round(result.wall_time_ms),
            )
        return result

    def concurrent_checks_limit(self, tenant: str) -> int:
        """The tenant's checks in flight at once: its registry quota, else the setting."""
        setting = self._settings.per_tenant_concurrency
        return tenant_limit(self._quotas, tenant, "concurrent_checks", setting)

    async def _admit(self, tenant: str) -> Hold:
        """The tenant's hold on a check in flight; refused at once over its limit, over the
        queue bound, or (UNAVAILABLE) when the quota ledger is out of reach."""
        limit = self.concurrent_checks_limit(tenant)
        granted = await asyncio.to_thread(self._ledger.hold, "concurrent_checks", tenant, limit)
        if isinstance(granted, Refusal):
            raise granted.error(retry_after_seconds=1.0)
        queue_limit = self._settings.max_queued_checks + self._settings.max_concurrent_checks
        if self._waiting >= queue_limit:  # checked after the await: no check slips past it
            await asyncio.to_thread(granted.release)
            raise QuotaExceeded(f"{self._waiting} checks are waiting; try again later")
        return granted

    async def _check_in_container(
        self, code: str, spec: TaskSpec, tenant: str, budget: int, limit_seconds: float
    ) -> tuple[CheckResult, str]:
        """The verdict and the id of the container that gave it ('' when none started)."""
        hold = await self._admit(tenant)
        self.in_flight[tenant] += 1
        try:
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
            self.running += 1
            self._observer.pool_changed(self.pool.ready_count, self.running)
            container = None
            try:
                container, mode = await self.pool.take(tenant)
                result = await asyncio.to_thread(
                    self._exchange, container, code, spec, budget, limit_seconds
                )
            except InfraError as exc:
                result, mode = failed(Outcome.INFRA_ERROR, None, str(exc), "InfraError"), "cold"
            finally:
                # The caller gets its verdict now; the container is removed in the background
                # and only then frees its slot, so live containers never exceed the bound.
                task = asyncio.get_running_loop().create_task(self._destroy_and_release(container))
                self._destroying.add(task)
                task.add_done_callback(self._destroying.discard)
        finally:
            # The tenant's count ends with its verdict, not with the removal: a search that
            # sends its next check on getting one is not refused for a container going away.
            self.in_flight[tenant] -= 1
            if not self.in_flight[tenant]:
                del self.in_flight[tenant]
            await asyncio.to_thread(hold.release)
        return _with_mode(result, mode), container.id if container is not None else ""

    async def _destroy_and_release(self, container: AttachedContainer | None) -> None:
        try:
            if container is not None:
                await asyncio.to_thread(container.destroy)
        finally:
            self.running -= 1
            self._slots.release()
            self._observer.pool_changed(self.pool.ready_count, self.running)

    def _exchange(
        self, container: AttachedContainer, code: str, spec: TaskSpec, budget: int, timeout: float
    ) -> CheckResult:
        """Send the job, read the one result line, and judge endings (blocking)."""
        nonce = secrets.token_hex(16)
        deadline = time.monotonic() + timeout
        try:
            container.send_line(job_line(nonce, code, spec, budget))
            line = container.read_line(deadline)
        except DeadlineExceeded:
            container.kill()
            return failed(Outcome.TIMEOUT, None, f"the check ran past {timeout:g}s and was killed")
        except OutputFlood as exc:
            container.kill()
            return failed(Outcome.RUNTIME_ERROR, None, f"output flood: {exc}")
        except OSError as exc:  # the container died while we were writing
            line = None
            log.info("container %s closed its input: %s", container.id[:12], exc)
        if line is None:
            return self._ended_without_result(container)
        try:
            return from_container(parse_result(line, nonce))
        except ProtocolError as exc:
            return failed(Outcome.RUNTIME_ERROR, None, f"the check's result was corrupted: {exc}")

    def _ended_without_result(self, container: AttachedContainer) -> CheckResult:
        state = container.wait_exit(_STATE_WAIT_SECONDS)
        if state.get("OOMKilled"):
            return failed(
                Outcome.OOM,
                None,
                f"the candidate exceeded the {self._limits.memory_bytes} byte memory "
                "limit and was killed",
            )
        tail = container.stderr_tail.decode("utf-8", "replace").strip().splitlines()[-3:]
        return failed(
            Outcome.RUNTIME_ERROR,
            None,
            f"the check process ended without a result (exit code "
            f"{state.get('ExitCode')}): {' | '.join(tail)}",
        )


def _with_wall_time(result: CheckResult, started: float) -> CheckResult:
    return replace(result, wall_time_ms=(time.monotonic() - started) * 1000)


def _with_mode(result: CheckResult, mode: str) -> CheckResult:
    return replace(result, mode=mode)
