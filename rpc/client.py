"""Client channels for calling nasforge services: every call gets a deadline and the token,
and carries the tenant on whose behalf it is made; TLS (mutual where the client has a
certificate) unless the caller explicitly asks for none. An aio channel (open_channel) for
the services and the async client, a blocking one (open_blocking_channel) for the sync
client of nasforge.client: the same options and call defaults for both.
"""

import json
from collections import namedtuple
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

    def _metadata(self, given) -> list[tuple[str, str]]:
        """The call's metadata plus the token and the acting tenant, unless it names them."""
        pairs = [tuple(pair) for pair in (given or ())]
        keys = {key for key, _ in pairs}
        if self._token is not None and tenant_context.AUTHORIZATION_KEY not in keys:
            pairs.append((tenant_context.AUTHORIZATION_KEY, f"Bearer {self._token}"))
        acting_for = tenant_context.current_tenant_or_none()
        if acting_for is not None and tenant_context.TENANT_KEY not in keys:
            pairs.append((tenant_context.TENANT_KEY, acting_for))
        return pairs

    def _timeout(self, given: float | None) -> float:
        return given if given is not None else self._default_timeout

    def _complete(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        return grpc.aio.ClientCallDetails(
            details.method,
            self._timeout(details.timeout),
            grpc.aio.Metadata(*self._metadata(details.metadata)),
            details.credentials,
            details.wait_for_ready,
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


class _BlockingCallDetails(
    namedtuple(
        "_BlockingCallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    """The call details a blocking interceptor hands on (grpc gives no concrete class)."""


class _BlockingDefaults(
    _CallDefaults,
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """_CallDefaults for a blocking channel (one object serves every call type there)."""

    def _blocking(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _BlockingCallDetails(
            details.method,
            self._timeout(details.timeout),
            self._metadata(details.metadata),
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._blocking(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._blocking(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return continuation(self._blocking(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return continuation(self._blocking(client_call_details), request_iterator)


def channel_options(max_message_bytes: int) -> list[tuple[str, object]]:
    """The options of every nasforge client channel, aio or blocking."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        # A name that resolves to several addresses (compose's `--scale trainer_svc=N`, a
        # Kubernetes headless service) gets its calls spread over all of them.
        ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
    ]


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
    options = channel_options(max_message_bytes)
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


def open_blocking_channel(
    target: str,
    *,
    token: str | None,
    tls: ClientTLS | None = None,
    default_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_message_bytes: int = 4 * 1024 * 1024,
) -> grpc.Channel:
    """open_channel's blocking twin (grpc's synchronous channel, no event loop): the same
    options, deadline, token and TLS rule."""
    options = channel_options(max_message_bytes)
    if tls is None:
        channel = grpc.insecure_channel(target, options=options)
    else:
        channel = grpc.secure_channel(target, tls.credentials(), options=options)
    return grpc.intercept_channel(channel, _BlockingDefaults(token, default_timeout_seconds))
