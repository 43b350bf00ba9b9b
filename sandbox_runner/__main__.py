"""`python -m sandbox_runner`: serve SandboxService until SIGTERM/SIGINT."""

from prometheus_client import CollectorRegistry

from netapi.code_policy import load_policy
from rpc.audit import open_audit_log
from rpc.server import announce_port, run_main, serve
from rpc.tenants import load_directory
from sandbox_runner.config import SandboxSettings
from sandbox_runner.containers import Launcher, docker_client
from sandbox_runner.core import SandboxChecker
from sandbox_runner.metrics import SandboxMetrics
from sandbox_runner.server import sandbox_binding


async def run(settings: SandboxSettings) -> None:
    tenants = load_directory(settings.auth_tokens_file)  # tokens and quotas, followed live
    registry = CollectorRegistry()
    audit = open_audit_log(settings.audit_log, "sandbox_runner", registry)
    launcher = Launcher(
        docker_client(settings.docker_timeout_seconds, ping=False),
        settings.namespace,
        settings.output_cap_bytes,
        settings.runtime,
    )
    metrics = SandboxMetrics(registry)
    metrics.follow_runtime(lambda: launcher.runtime)
    checker = SandboxChecker(
        settings,
        launcher,
        load_policy(settings),
        metrics,
        quotas=tenants.quotas if tenants is not None else None,
        audit=audit,
    )
    await checker.start()
    try:
        await serve(
            [sandbox_binding(checker)],
            settings,
            registry=registry,
            on_started=announce_port("sandbox_runner"),
            tenants=tenants,
        )
    finally:
        await checker.close()
        if audit is not None:
            audit.close()


def main() -> None:
    run_main(run(SandboxSettings()))


if __name__ == "__main__":
    main()
