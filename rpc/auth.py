"""Bearer-token authentication: token -> principal -> tenant, for unary and streaming RPCs.

Tokens are configured only as SHA-256 digests. A presented token is hashed and compared
with every configured digest in constant time (no early exit), so neither the match nor
its position leaks through timing. Tenant tokens act for their own tenant; service tokens
(internal callers) act for the tenant named in the ``x-nasforge-tenant`` metadata.
"""

import contextlib
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import grpc

from rpc import tenant as tenant_context
from rpc.handlers import guard_handler, split_method

# Standard services that load balancers and tools call without credentials.
EXEMPT_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)

TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_BEARER_PREFIX = "bearer "


class TokenConfigError(ValueError):
    """The token configuration is malformed."""


@dataclass(frozen=True)
class Principal:
    """Who presented a token: a tenant, or an internal service acting for tenants."""

    name: str
    internal: bool = False


def hash_token(token: str) -> str:
    """The hex SHA-256 digest under which a token is configured."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_valid_tenant_name(name: str) -> bool:
    """Tenant names are short lower-case slugs, safe in labels and logs."""
    return bool(TENANT_NAME.match(name))


class TokenTable:
    """Configured token digests and the principal each one stands for."""

    def __init__(self, entries: list[tuple[str, Principal]]) -> None:
        self._entries: list[tuple[bytes, Principal]] = []
        for digest_hex, principal in entries:
            try:
                digest = bytes.fromhex(digest_hex)
            except ValueError as exc:
                raise TokenConfigError(f"token digest for {principal.name!r} is not hex") from exc
            if len(digest) != hashlib.sha256().digest_size:
                raise TokenConfigError(f"token digest for {principal.name!r} is not SHA-256")
            if not is_valid_tenant_name(principal.name):
                raise TokenConfigError(f"invalid principal name {principal.name!r}")
            self._entries.append((digest, principal))

    @classmethod
    def from_json(cls, text: str) -> "TokenTable":
        """Parse ``{"tokens": [{"sha256": HEX, "tenant" | "service": NAME}, ...]}``."""
        try:
            document = json.loads(text)
            rows = document["tokens"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise TokenConfigError(
                f"token file is not of the form {{'tokens': [...]}}: {exc}"
            ) from exc
        if not isinstance(rows, list):
            raise TokenConfigError("'tokens' must be a list")
        entries = []
        for row in rows:
            if not isinstance(row, dict) or "sha256" not in row:
                raise TokenConfigError(f"token entry without sha256: {row!r}")
            if "tenant" in row:
                entries.append((row["sha256"], Principal(row["tenant"])))
            elif "service" in row:
                entries.append((row["sha256"], Principal(row["service"], internal=True)))
            else:
                raise TokenConfigError("token entry names neither a tenant nor a service")
        return cls(entries)

    @classmethod
    def from_file(cls, path: Path) -> "TokenTable":
        """Read a token table written by hand or by `nasforge tenant`."""
        return cls.from_json(path.read_text(encoding="utf-8"))

    def resolve(self, token: str) -> Principal | None:
        """The principal of a presented token, or None; constant time in the match."""
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        found = None
        for digest, principal in self._entries:
            if secrets.compare_digest(digest, presented):
                found = principal
        return found


def _metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            return item.value if isinstance(item.value, str) else None
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without a valid bearer token and binds the caller's tenant."""

    def __init__(self, tokens: TokenTable | None, *, anonymous_tenant: str | None = None) -> None:
        """``anonymous_tenant`` admits calls without a token (local development only)."""
        self._tokens = tokens
        self._anonymous_tenant = anonymous_tenant

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        service, _ = split_method(handler_call_details.method)
        if service in EXEMPT_SERVICES:
            return handler
        return guard_handler(handler, self._authenticated)

    def _tenant_of(self, context: grpc.aio.ServicerContext) -> tuple[str | None, str]:
        """(tenant, reason); tenant is None when the call must be rejected."""
        header = _metadata_value(context, tenant_context.AUTHORIZATION_KEY)
        if header is None:
            if self._anonymous_tenant is not None:
                return self._anonymous_tenant, ""
            return None, "missing bearer token"
        if not header.lower().startswith(_BEARER_PREFIX) or self._tokens is None:
            return None, "invalid bearer token"
        principal = self._tokens.resolve(header[len(_BEARER_PREFIX) :].strip())
        if principal is None:
            return None, "invalid bearer token"
        if not principal.internal:
            return principal.name, ""
        on_behalf_of = _metadata_value(context, tenant_context.TENANT_KEY)
        if on_behalf_of is None or not is_valid_tenant_name(on_behalf_of):
            return None, "internal call does not name a valid tenant"
        return on_behalf_of, ""

    @contextlib.asynccontextmanager
    async def _authenticated(self, context: grpc.aio.ServicerContext):
        tenant, reason = self._tenant_of(context)
        if tenant is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)
        token = tenant_context.set_current_tenant(tenant)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):  # closed from another context
                tenant_context.reset_current_tenant(token)
