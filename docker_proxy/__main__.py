"""`python -m docker_proxy`: serve the restricting Docker API proxy until SIGTERM/SIGINT."""

import asyncio
import logging

from prometheus_client import CollectorRegistry, start_http_server

from docker_proxy.config import ProxySettings
from docker_proxy.metrics import ProxyMetrics
from docker_proxy.policy import Policy
from docker_proxy.server import DockerProxy
from rpc.lifecycle import stop_signals

log = logging.getLogger("docker_proxy")


def build_proxy(settings: ProxySettings, registry: CollectorRegistry) -> DockerProxy:
    return DockerProxy(settings, Policy.from_settings(settings), ProxyMetrics(registry))


async def run(settings: ProxySettings) -> None:
    registry = CollectorRegistry()
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    proxy = build_proxy(settings, registry)
    port = await proxy.start()
    log.info(
        "forwarding to %s for namespace %s (API >= %s); images %s; volumes %s; GPUs %s",
        settings.docker_socket,
        settings.namespace,
        settings.min_api_version,
        settings.images,
        settings.volumes,
        "allowed" if settings.allow_gpus else "refused",
    )
    print(f"docker_proxy listening on port {port}", flush=True)
    async with stop_signals() as stop_requested:
        await stop_requested.wait()
        log.info("shutting down; open streams get %.1fs", settings.shutdown_grace_seconds)
        await proxy.close(settings.shutdown_grace_seconds)


def main() -> None:
    settings = ProxySettings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
