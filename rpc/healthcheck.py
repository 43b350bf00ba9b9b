"""`python -m rpc.healthcheck`: the container health check of every nasforge service.

    python -m rpc.healthcheck grpc PORT [PREFIX]   the gRPC health service on 127.0.0.1:PORT
                                                   says SERVING
    python -m rpc.healthcheck http URL             an HTTP GET of URL answers 2xx

PREFIX is the service's settings prefix (NASFORGE_GATEWAY_, ...): the check then speaks the
transport the server's own settings give it. With `plaintext=true`, plaintext; else TLS that
trusts the CA of `tls_client_ca_file` and the CA certificates `tls_cert_file` carries after
the server's own (rpc.certs writes chains), presenting the server's own certificate as its
client certificate (a mutual-TLS server requires one; rpc.certs issues server certificates
for clientAuth too). The server's certificate must name 127.0.0.1 (an IP SAN). Without
PREFIX, plaintext.

A server at its bound of calls at once (max_concurrent_rpcs) refuses the check with
RESOURCE_EXHAUSTED: that counts as healthy, since it answered.

Exit status 0 when healthy, 1 otherwise (with the reason on stderr), as Docker expects.
"""

import sys
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic_settings import SettingsConfigDict

from rpc.settings import ServerSettings, TransportSecurityError

TIMEOUT_SECONDS = 3.0


def server_settings(prefix: str) -> ServerSettings:
    """The settings every server shares, read from the environment with ``prefix``."""

    class Settings(ServerSettings):
        model_config = SettingsConfigDict(env_prefix=prefix, extra="ignore")

    return Settings()


def channel_credentials(settings: ServerSettings) -> grpc.ChannelCredentials | None:
    """How a server's health check reaches it: None for plaintext, else TLS with its own
    certificate (see the module docstring)."""
    settings.check_transport()
    if settings.plaintext:
        return None
    chain = settings.tls_cert_file.read_bytes()
    client_ca = settings.tls_client_ca_file
    roots = (client_ca.read_bytes() if client_ca is not None else b"") + chain
    return grpc.ssl_channel_credentials(
        root_certificates=roots,
        private_key=settings.tls_key_file.read_bytes(),
        certificate_chain=chain,
    )


def grpc_healthy(
    target: str, credentials: grpc.ChannelCredentials | None = None
) -> tuple[bool, str]:
    """Whether the server at ``target`` reports its overall health as SERVING."""
    try:
        with (
            grpc.insecure_channel(target)
            if credentials is None
            else grpc.secure_channel(target, credentials)
        ) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS
            )
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            # Refused by max_concurrent_rpcs (rpc.server): up and busy, not broken.
            return True, f"{target}: at its bound of calls at once"
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
    usable = {"grpc": (2, 3), "http": (2,)}
    if not argv or len(argv) not in usable.get(argv[0], ()):
        print("usage: python -m rpc.healthcheck grpc PORT [PREFIX] | http URL", file=sys.stderr)
        return 2
    kind, where = argv[:2]
    if kind == "http":
        healthy, detail = http_healthy(where)
    else:
        try:
            credentials = channel_credentials(server_settings(argv[2])) if len(argv) == 3 else None
        except (TransportSecurityError, OSError) as exc:
            print(f"127.0.0.1:{where}: {exc}", file=sys.stderr)
            return 1
        healthy, detail = grpc_healthy(f"127.0.0.1:{where}", credentials)
    print(detail, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
