"""`python -m llm_gateway`: serve LlmGatewayService until SIGTERM/SIGINT."""

from prometheus_client import CollectorRegistry

from llm_gateway.config import GatewaySettings
from llm_gateway.core import LlmGateway
from llm_gateway.metrics import GatewayMetrics
from llm_gateway.server import gateway_binding
from netapi.code_policy import load_policy
from rpc.server import announce_port, run_main, serve
from rpc.tenants import load_directory


async def run(settings: GatewaySettings) -> None:
    tenants = load_directory(settings.auth_tokens_file)  # tokens and quotas, followed live
    registry = CollectorRegistry()
    metrics = GatewayMetrics.for_settings(registry, settings)
    gateway = LlmGateway(
        settings,
        policy=load_policy(settings),
        observer=metrics,
        quotas=tenants.quotas if tenants is not None else None,
    )
    try:
        await serve(
            [gateway_binding(gateway)],
            settings,
            registry=registry,
            on_started=announce_port("llm_gateway"),
            tenants=tenants,
        )
    finally:
        await gateway.close()


def main() -> None:
    run_main(run(GatewaySettings()))


if __name__ == "__main__":
    main()
