"""The tenant on whose behalf the current RPC runs, and the metadata keys that carry it.

The auth interceptor resolves the tenant from the caller's token and stores it here;
handlers read it with current_tenant(), and rpc.client attaches it to every internal
call made while handling the request.
"""

import contextvars

AUTHORIZATION_KEY = "authorization"
TENANT_KEY = "x-nasforge-tenant"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "nasforge_tenant", default=None
)


class NoTenantError(RuntimeError):
    """Raised when code that needs a tenant runs outside an authenticated RPC."""


def current_tenant() -> str:
    """The tenant of the RPC being handled; raises NoTenantError outside one."""
    tenant = _current.get()
    if tenant is None:
        raise NoTenantError("no tenant: this code must run inside an authenticated RPC")
    return tenant


def current_tenant_or_none() -> str | None:
    """The tenant of the RPC being handled, or None outside one."""
    return _current.get()


def set_current_tenant(tenant: str | None) -> contextvars.Token:
    """Bind the tenant for the rest of the current task; returns a reset token."""
    return _current.set(tenant)


def reset_current_tenant(token: contextvars.Token) -> None:
    """Undo set_current_tenant."""
    _current.reset(token)
