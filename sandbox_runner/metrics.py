"""Prometheus metrics of sandbox_runner, in one class that takes a registry."""

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from netapi.outcomes import Outcome
from sandbox_runner.containers import RUNTIMES
from sandbox_runner.verdicts import CheckResult

MODES = ("static", "warm", "cold")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)


class SandboxMetrics:
    """Checks by outcome and mode, check duration, pool size, containers alive, infra errors."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.checks = Counter(
            "nasforge_sandbox_checks_total",
            "Checks finished, by outcome and by how they ran.",
            ["outcome", "mode"],
            registry=registry,
        )
        self.duration = Histogram(
            "nasforge_sandbox_check_duration_seconds",
            "Wall time of a check, static checks included.",
            ["mode"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.pool_ready = Gauge(
            "nasforge_sandbox_pool_ready_containers",
            "Warm containers waiting for a check.",
            registry=registry,
        )
        self.containers_alive = Gauge(
            "nasforge_sandbox_containers_alive",
            "Containers running a check now.",
            registry=registry,
        )
        self.infra_errors = Counter(
            "nasforge_sandbox_infra_errors_total",
            "Checks that failed on our side (engine, image).",
            registry=registry,
        )
        self.runtime = Gauge(
            "nasforge_sandbox_container_runtime_info",
            "1 for the runtime check containers run under (runsc: gVisor), 0 for the other; "
            "both 0 until the engine has answered.",
            ["runtime"],
            registry=registry,
        )
        for runtime in RUNTIMES:
            self.runtime.labels(runtime)
        for mode in MODES:
            self.duration.labels(mode)
            for outcome in Outcome:
                self.checks.labels(outcome.value, mode)

    def follow_runtime(self, current: Callable[[], str | None]) -> None:
        """Read the launcher's runtime (``current()``, None until chosen) at every scrape."""
        for runtime in RUNTIMES:
            self.runtime.labels(runtime).set_function(
                lambda runtime=runtime: float(current() == runtime)
            )

    def check_finished(self, result: CheckResult) -> None:
        self.checks.labels(result.outcome.value, result.mode).inc()
        self.duration.labels(result.mode).observe(result.wall_time_ms / 1000)
        if result.outcome is Outcome.INFRA_ERROR:
            self.infra_errors.inc()

    def pool_changed(self, ready: int, running: int) -> None:
        self.pool_ready.set(ready)
        self.containers_alive.set(running)
