"""One serve() for every nasforge service: grpc.aio with health, reflection, interceptors,
explicit keepalive and message-size limits, a bound on calls at once, and graceful shutdown
on SIGTERM/SIGINT.

The bound (``max_concurrent_rpcs``) is grpc's own: a call over it is answered
RESOURCE_EXHAUSTED before any interceptor runs, so it costs next to nothing and is not in
nasforge_rpc_requests_total. A stream holds its place until it ends or its client cancels.
Health checks share the bound (grpc exempts no service); rather than reserve places for
them, rpc.healthcheck reads that refusal as a live server at its bound, so a saturated
server is not restarted with the calls that fill it.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server

from rpc.auth import AuthInterceptor
from rpc.error_mapping import ErrorMappingInterceptor
from rpc.lifecycle import stop_signals
from rpc.metrics import MetricsInterceptor, RpcMetrics
from rpc.settings import ServerSettings, TransportSecurityError
from rpc.tenants import TenantDirectory, load_directory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer and how to add it to a server, e.g. from a generated *_pb2_grpc module."""

    descriptor: object  # google.protobuf.descriptor.ServiceDescriptor
    register: Callable[[grpc.aio.Server], None]

    @property
    def name(self) -> str:
        return self.descriptor.full_name

    @property
    def methods(self) -> list[str]:
        return [method.name for method in self.descriptor.methods]


def bind(add_to_server: Callable, servicer: object, descriptor: object) -> ServiceBinding:
    """ServiceBinding for ``add_XServicer_to_server(servicer, server)``."""
    return ServiceBinding(descriptor, lambda server: add_to_server(servicer, server))


def server_options(settings: ServerSettings) -> list[tuple[str, int]]:
    """Channel arguments: message-size limits and keepalive, all explicit."""
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", settings.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", settings.keepalive_timeout_ms),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", settings.min_client_ping_interval_ms),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.so_reuseport", 0),
    ]


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS credentials of the server (mutual TLS with ``tls_client_ca_file``), or None when
    the settings explicitly ask for plaintext; TransportSecurityError for anything else."""
    settings.check_transport()
    if settings.plaintext:
        return None
    try:
        key = settings.tls_key_file.read_bytes()
        chain = settings.tls_cert_file.read_bytes()
        client_ca_file = settings.tls_client_ca_file
        client_ca = client_ca_file.read_bytes() if client_ca_file is not None else None
    except OSError as exc:
        raise TransportSecurityError(f"cannot read {exc.filename}: {exc.strerror}") from exc
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _load_tokens(settings: ServerSettings) -> TenantDirectory | None:
    """The tenant registry of ``auth_tokens_file``, followed as it changes (rpc.tenants)."""
    if settings.auth_tokens_file is None and settings.allow_anonymous_tenant is None:
        log.warning("no auth_tokens_file configured: every authenticated call is refused")
    return load_directory(settings.auth_tokens_file)


@dataclass
class RunningServer:
    """A started server: its bound port, its health servicer, and how to stop it."""

    server: grpc.aio.Server
    health: health_aio.HealthServicer
    port: int
    service_names: Sequence[str]
    registry: CollectorRegistry
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def shutdown(self, grace_seconds: float) -> None:
        """Report NOT_SERVING, refuse new calls, and give in-flight calls ``grace_seconds``."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_seconds)

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()


async def start_server(
    services: Sequence[ServiceBinding],
    settings: ServerSettings,
    *,
    registry: CollectorRegistry | None = None,
    tenants: TenantDirectory | None = None,
) -> RunningServer:
    """Build, bind and start a server; the caller owns its shutdown.

    ``tenants`` is the tenant registry to authenticate against; by default the one in
    ``settings.auth_tokens_file``.
    """
    registry = registry if registry is not None else CollectorRegistry()
    rpc_metrics = RpcMetrics(registry)
    anonymous = settings.allow_anonymous_tenant
    interceptors = [
        MetricsInterceptor(rpc_metrics),
        AuthInterceptor(
            tenants if tenants is not None else _load_tokens(settings), anonymous_tenant=anonymous
        ),
        ErrorMappingInterceptor(),
    ]
    server = grpc.aio.server(
        interceptors=interceptors,
        options=server_options(settings),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for service in services:
        service.register(server)
        rpc_metrics.create_series(service.name, service.methods)
    names = [service.name for service in services]
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    credentials = server_credentials(settings)
    address = f"{settings.host}:{settings.port}"
    if credentials is None:
        log.warning("serving plaintext gRPC (plaintext=true): local development only")
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"could not bind {settings.host}:{settings.port}")
    await server.start()
    for name in ["", *names]:  # "" is the server's overall health
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving %s on %s:%d", ", ".join(names), settings.host, port)
    return RunningServer(server, health, port, names, registry)


async def serve(
    services: Sequence[ServiceBinding],
    settings: ServerSettings,
    *,
    registry: CollectorRegistry | None = None,
    on_started: Callable[[RunningServer], None] | None = None,
    tenants: TenantDirectory | None = None,
) -> None:
    """Run a server until SIGTERM or SIGINT, then shut it down gracefully."""
    registry = registry if registry is not None else CollectorRegistry()
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    running = await start_server(services, settings, registry=registry, tenants=tenants)
    if on_started is not None:
        on_started(running)
    async with stop_signals() as stop_requested:
        await stop_requested.wait()
        log.info("shutting down; in-flight calls get %.1fs", settings.shutdown_grace_seconds)
        await running.shutdown(settings.shutdown_grace_seconds)


def announce_port(service: str) -> Callable[[RunningServer], None]:
    """on_started for `python -m <service>`: print the bound port (tests and scripts read it)."""
    return lambda running: print(f"{service} listening on port {running.port}", flush=True)


def run_main(service: Coroutine) -> None:
    """The body of every service's main(): log to stderr, run until the server stops.

    Transport settings that cannot serve end the process with their one-line reason."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(service)
    except TransportSecurityError as exc:
        raise SystemExit(f"refusing to start: {exc}") from None
