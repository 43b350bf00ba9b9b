"""`python -m trainer_svc`: serve TrainerService until SIGTERM/SIGINT."""

import logging
from collections.abc import Callable

import docker.errors
from prometheus_client import CollectorRegistry

from rpc.audit import AuditLog, open_audit_log
from rpc.server import announce_port, run_main, serve
from rpc.tenants import Quotas, load_directory
from sandbox_runner.containers import InfraError, Launcher, RuntimeUnavailable, docker_client
from trainer_svc.config import TrainerSettings
from trainer_svc.container_run import ContainerTraining
from trainer_svc.core import Trainer
from trainer_svc.metrics import TrainerMetrics
from trainer_svc.server import trainer_binding


def build_trainer(
    settings: TrainerSettings,
    observer=None,
    *,
    ping: bool = False,
    quotas: Callable[[str], Quotas] | None = None,
    audit: AuditLog | None = None,
) -> Trainer:
    """A trainer on the local engine; its container runtime is chosen (an explicit runsc the
    engine lacks stops it here) and leftovers of an earlier run are removed first."""
    client = docker_client(ping=ping)
    launcher = Launcher(client, settings.namespace, settings.output_cap_bytes, settings.runtime)
    try:
        launcher.resolve_runtime()
    except RuntimeUnavailable:
        raise
    except InfraError as exc:
        logging.getLogger(__name__).error("Docker engine unavailable at start-up: %s", exc)
    try:
        launcher.reap(expired_only=False)
    except docker.errors.DockerException as exc:
        logging.getLogger(__name__).error("Docker engine unavailable at start-up: %s", exc)
    training = ContainerTraining(settings, launcher, client)
    return Trainer(settings, training, observer, quotas=quotas, audit=audit)


async def run(settings: TrainerSettings) -> None:
    tenants = load_directory(settings.auth_tokens_file)  # tokens and quotas, followed live
    registry = CollectorRegistry()
    audit = open_audit_log(settings.audit_log, "trainer_svc", registry)
    trainer = build_trainer(
        settings,
        TrainerMetrics(registry, gpu=settings.gpu),
        quotas=tenants.quotas if tenants is not None else None,
        audit=audit,
    )
    try:
        await serve(
            [trainer_binding(trainer, settings)],
            settings,
            registry=registry,
            on_started=announce_port("trainer_svc"),
            tenants=tenants,
        )
    finally:
        if audit is not None:
            audit.close()


def main() -> None:
    run_main(run(TrainerSettings()))


if __name__ == "__main__":
    main()
