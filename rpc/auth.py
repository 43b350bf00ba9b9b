"""Bearer-token authentication: token -> principal -> tenant, for unary and streaming RPCs.

Tokens are configured only as SHA-256 digests, in the registry of rpc.tenants. A presented
token is hashed and compared with every configured digest in constant time (no early exit),
so neither the match nor its position leaks through timing. Tenant tokens act for their own
tenant; service tokens (internal callers) act for the tenant named in the
``x-nasforge-tenant`` metadata.
"""

import contextlib
from typing import Protocol

import grpc

from rpc import tenant as tenant_context
from rpc.handlers import guard_handler, split_method
from rpc.tenants import Principal, TokenConfigError, TokenTable, hash_token, is_valid_tenant_name

# Standard services that load balancers and tools call without credentials.
EXEMPT_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)

_BEARER_PREFIX = "bearer "

# Re-exported: the token format and its resolution live in rpc.tenants.
__all__ = [
    "AuthInterceptor",
    "Principal",
    "TokenConfigError",
    "TokenResolver",
    "TokenTable",
    "hash_token",
    "is_valid_tenant_name",
]


class TokenResolver(Protocol):
    """What the interceptor needs: a TenantDirectory, or a fixed TokenTable."""

    def resolve(self, token: str) -> Principal | None: ...


def _metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            return item.value if isinstance(item.value, str) else None
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without a valid bearer token and binds the caller's tenant."""

    def __init__(
        self, tokens: TokenResolver | None, *, anonymous_tenant: str | None = None
    ) -> None:
        """``tokens`` is usually a TenantDirectory, which follows the registry file as it
        changes; ``anonymous_tenant`` admits calls without a token (local development only)."""
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
