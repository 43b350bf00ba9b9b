"""Prometheus metrics of docker_proxy, in one class that takes a registry."""

from prometheus_client import CollectorRegistry, Counter, Gauge

from docker_proxy.policy import ENDPOINT_NAMES

DECISIONS = ("allowed", "denied", "malformed")


class ProxyMetrics:
    """Requests by decision and allowlist entry; connections open now; engine failures."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "nasforge_docker_proxy_requests_total",
            "Requests received, by decision and allowlist entry ('other' when none matched).",
            ["decision", "endpoint"],
            registry=registry,
        )
        self.connections = Gauge(
            "nasforge_docker_proxy_open_connections",
            "Client connections open now (attach streams included).",
            registry=registry,
        )
        self.upstream_errors = Counter(
            "nasforge_docker_proxy_upstream_errors_total",
            "Allowed requests the engine could not be reached for (answered 502).",
            registry=registry,
        )
        for decision in DECISIONS:
            for endpoint in ENDPOINT_NAMES:
                self.requests.labels(decision, endpoint)

    def request(self, decision: str, endpoint: str) -> None:
        self.requests.labels(decision, endpoint).inc()
