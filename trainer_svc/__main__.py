"""`python -m trainer_svc`: serve TrainerService until SIGTERM/SIGINT."""

import logging

import docker.errors
from prometheus_client import CollectorRegistry

from rpc.server import announce_port, run_main, serve
from sandbox_runner.containers import Launcher, docker_client
from trainer_svc.config import TrainerSettings
from trainer_svc.container_run import ContainerTraining
from trainer_svc.core import Trainer
from trainer_svc.metrics import TrainerMetrics
from trainer_svc.server import trainer_binding


def build_trainer(settings: TrainerSettings, observer=None, *, ping: bool = False) -> Trainer:
    """A trainer on the local engine; leftovers of an earlier run are removed first."""
    client = docker_client(ping=ping)
    launcher = Launcher(client, settings.namespace, settings.output_cap_bytes)
    try:
        launcher.reap(expired_only=False)
    except docker.errors.DockerException as exc:
        logging.getLogger(__name__).error("Docker engine unavailable at start-up: %s", exc)
    return Trainer(settings, ContainerTraining(settings, launcher, client), observer)


async def run(settings: TrainerSettings) -> None:
    registry = CollectorRegistry()
    trainer = build_trainer(settings, TrainerMetrics(registry, gpu=settings.gpu))
    await serve(
        [trainer_binding(trainer, settings)],
        settings,
        registry=registry,
        on_started=announce_port("trainer_svc"),
    )


def main() -> None:
    run_main(run(TrainerSettings()))


if __name__ == "__main__":
    main()
