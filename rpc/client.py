"""Client channels for calling nasforge services: every call gets a deadline and the token,
and carries the tenant on whose behalf it is made; TLS (mutual where the client has a
certificate) unless the caller explicitly asks for none.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import grpc

from rpc import tenant as tenant_context

DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class ClientTLS:
    """What a client needs for TLS: the CA that signed the server's certificate, and for
    mutual TLS its own certificate (chain) and key."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")

    def credentials(self) -> grpc.ChannelCredentials:
        """Channel credentials read from the files now (a renewed certificate needs a new
        channel)."""
        return grpc.ssl_channel_credentials(
            root_certificates=Path(self.ca_file).read_bytes(),
            private_key=Path(self.key_file).read_bytes() if self.key_file else None,
            certificate_chain=Path(self.cert_file).read_bytes() if self.cert_file else None,
        )


class _CallDefaults:
    """Fills in the deadline, the bearer token and the acting tenant of every call."""

    def __init__(self, token: str | None, default_timeout_seconds: float) -> None:
        self._token = token
        self._default_timeout = default_timeout_seconds

    def _complete(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        if self._token is not None and tenant_context.AUTHORIZATION_KEY not in metadata:
            metadata[tenant_context.AUTHORIZATION_KEY] = f"Bearer {self._token}"
        acting_for = tenant_context.current_tenant_or_none()
        if acting_for is not None and tenant_context.TENANT_KEY not in metadata:
            metadata[tenant_context.TENANT_KEY] = acting_for
        timeout = details.timeout if details.timeout is not None else self._default_timeout
        return grpc.aio.ClientCallDetails(
            details.method, timeout, metadata, details.credentials, details.wait_for_ready
        )


# grpc.aio files each interceptor under the first call type it implements, so each call
# type needs an interceptor object of its own.
class _UnaryUnaryDefaults(_CallDefaults, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self._complete(client_call_details), request)


class _UnaryStreamDefaults(_CallDefaults, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self._complete(client_call_details), request)


class _StreamUnaryDefaults(_CallDefaults, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return await continuation(self._complete(client_call_details), request_iterator)


class _StreamStreamDefaults(_CallDefaults, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await continuation(self._complete(client_call_details), request_iterator)


def open_channel(
    target: str,
    *,
    token: str | None,
    tls: ClientTLS | None = None,
    default_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_message_bytes: int = 4 * 1024 * 1024,
) -> grpc.aio.Channel:
    """An aio channel to ``target`` whose calls always carry a deadline and the token: TLS
    with ``tls``, plaintext (local development, tests of one service) only when it is None.

    ``target`` may be ``dns:///name:port``: calls go round robin over every address of name.
    The server's certificate must name the host of ``target`` (a DNS or IP SAN).
    """
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        # A name that resolves to several addresses (compose's `--scale trainer_svc=N`, a
        # Kubernetes headless service) gets its calls spread over all of them.
        ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
    ]
    interceptors = [
        kind(token, default_timeout_seconds)
        for kind in (
            _UnaryUnaryDefaults,
            _UnaryStreamDefaults,
            _StreamUnaryDefaults,
            _StreamStreamDefaults,
        )
    ]
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(
        target, tls.credentials(), options=options, interceptors=interceptors
    )
