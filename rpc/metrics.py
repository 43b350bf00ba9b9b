"""Per-RPC Prometheus metrics: requests by final status code, latency, calls in flight.

Label values are closed sets: the methods of the services a server registers and the
gRPC status codes, all created at zero when the server starts.
"""

import asyncio
import contextlib
import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rpc.handlers import guard_handler, split_method

_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class RpcMetrics:
    """The RPC metrics of one server process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "nasforge_rpc_requests_total",
            "RPCs handled, by method and final status code.",
            ["service", "method", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "nasforge_rpc_duration_seconds",
            "Time from the start of an RPC to its final status.",
            ["service", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "nasforge_rpc_in_flight_requests",
            "RPCs being handled now.",
            ["service", "method"],
            registry=registry,
        )

    def create_series(self, service: str, methods: list[str]) -> None:
        """Create every series of a service at zero, so rates exist before the first call."""
        for method in methods:
            self.duration.labels(service, method)
            self.in_flight.labels(service, method)
            for code in grpc.StatusCode:
                self.requests.labels(service, method, code.name)


def _final_code(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    for status in grpc.StatusCode:  # some grpc builds report the raw integer
        if status.value[0] == code:
            return status.name
    return default.name


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every RPC; the outermost interceptor, so rejected calls count too."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        service, method = split_method(handler_call_details.method)
        return guard_handler(handler, lambda context: self._measured(context, service, method))

    @contextlib.asynccontextmanager
    async def _measured(self, context: grpc.aio.ServicerContext, service: str, method: str):
        started = time.perf_counter()
        in_flight = self._metrics.in_flight.labels(service, method)
        in_flight.inc()
        code = grpc.StatusCode.OK.name
        try:
            yield
        except grpc.aio.AbortError:
            code = _final_code(context, grpc.StatusCode.UNKNOWN)
            raise
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED.name
            raise
        except BaseException:
            code = grpc.StatusCode.UNKNOWN.name
            raise
        finally:
            in_flight.dec()
            self._metrics.requests.labels(service, method, code).inc()
            self._metrics.duration.labels(service, method).observe(time.perf_counter() - started)
