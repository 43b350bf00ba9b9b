"""`python -m llm_gateway`: serve LlmGatewayService until SIGTERM/SIGINT."""

from prometheus_client import CollectorRegistry

from llm_gateway.config import GatewaySettings
from llm_gateway.core import LlmGateway, load_policy
from llm_gateway.metrics import GatewayMetrics
from llm_gateway.server import gateway_binding
from rpc.server import announce_port, run_main, serve


async def run(settings: GatewaySettings) -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics.for_settings(registry, settings)
    gateway = LlmGateway(settings, policy=load_policy(settings), observer=metrics)
    try:
        await serve(
            [gateway_binding(gateway)],
            settings,
            registry=registry,
            on_started=announce_port("llm_gateway"),
        )
    finally:
        await gateway.close()


def main() -> None:
    run_main(run(GatewaySettings()))


if __name__ == "__main__":
    main()
