"""`python -m rpc.healthcheck`: the container health check of every nasforge service.

    python -m rpc.healthcheck grpc PORT     the gRPC health service on 127.0.0.1:PORT says SERVING
    python -m rpc.healthcheck http URL      an HTTP GET of URL answers 2xx

Exit status 0 when healthy, 1 otherwise (with the reason on stderr), as Docker expects.
"""

import sys
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT_SECONDS = 3.0


def grpc_healthy(target: str) -> tuple[bool, str]:
    """Whether the server at ``target`` reports its overall health as SERVING."""
    try:
        with grpc.insecure_channel(target) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS
            )
    except grpc.RpcError as exc:
        return False, f"{target}: {exc.code().name}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return response.status == health_pb2.HealthCheckResponse.SERVING, f"{target}: {status}"


def http_healthy(url: str) -> tuple[bool, str]:
    """Whether a GET of ``url`` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return 200 <= response.status < 300, f"{url}: HTTP {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {exc}"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("grpc", "http"):
        print("usage: python -m rpc.healthcheck grpc PORT | http URL", file=sys.stderr)
        return 2
    kind, where = argv
    healthy, detail = grpc_healthy(f"127.0.0.1:{where}") if kind == "grpc" else http_healthy(where)
    print(detail, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
