"""Secrets of a deployment: bearer tokens (servers only see their SHA-256 digests) and the
store's database password. `nasforge deploy secrets` (cli/deploy.py) writes them for
compose; the local stack writes its token table with the same function. The token table
is the tenant registry of rpc.tenants, written only through its `edit_registry`.
"""

import os
from pathlib import Path

from rpc.tenants import Registry, edit_registry, is_valid_tenant_name, new_token

SEARCH_CORE_PRINCIPAL = "search-core"
CONTAINER_UID = 10001  # the user every nasforge service image runs as


def write_token_table(path: Path, tenants: dict[str, str], services: dict[str, str]) -> None:
    """A fresh token table, whatever ``path`` held: {tenant or service name: token}."""
    with edit_registry(path) as registry:
        registry.tenants.clear()
        registry.tokens.clear()
        _add_tokens(registry, tenants, services)


def _add_tokens(registry: Registry, tenants: dict[str, str], services: dict[str, str]) -> None:
    for name, token in tenants.items():
        if name not in registry.tenants:
            registry.add_tenant(name)
        registry.add_token(name, token=token)
    for name, token in services.items():
        registry.add_service_token(name, token=token)


def _write_private(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def write_container_secret(path: Path, text: str) -> None:
    path.write_text(text)
    _own_container_secret(path)


def _own_container_secret(path: Path) -> None:
    """A file mounted into the service containers: owned by their user, 0600, where we may
    chown (root); world-readable inside the 0700 secrets directory where we may not."""
    if os.geteuid() == 0:
        os.chown(path, CONTAINER_UID, CONTAINER_UID)
        path.chmod(0o600)
    else:
        path.chmod(0o644)


def tenant_token_path(directory: Path, tenant: str) -> Path:
    return directory / f"tenant-{tenant}.token"


def write_deployment_secrets(directory: Path, tenants: list[str]) -> dict[str, Path]:
    """Create the compose secrets in ``directory`` and a token for each tenant that has
    none (existing ones are kept); {tenant: token file}.

    Files mounted into containers (tokens.json, with digests only; service-token; pgpass;
    postgres-password) belong to the services' user. The tenants' own tokens are never
    mounted anywhere.
    """
    for tenant in tenants:
        if not is_valid_tenant_name(tenant):
            raise ValueError(f"invalid tenant name {tenant!r}")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    table = directory / "tokens.json"
    if not table.exists():
        service_token = new_token()
        write_container_secret(directory / "service-token", service_token)
        write_token_table(table, {}, {SEARCH_CORE_PRINCIPAL: service_token})
        _own_container_secret(table)
    missing = [t for t in tenants if not tenant_token_path(directory, t).exists()]
    if missing:  # new tenants join the table (edited in place); existing tokens stay valid
        issued = {tenant: new_token() for tenant in missing}
        with edit_registry(table) as registry:
            _add_tokens(registry, issued, {})
        for tenant, token in issued.items():
            _write_private(tenant_token_path(directory, tenant), token + "\n")
    password = directory / "postgres-password"
    if not password.exists():
        secret = new_token()
        write_container_secret(password, secret)
        write_container_secret(directory / "pgpass", f"postgres:5432:nasforge:nasforge:{secret}\n")
    return {tenant: tenant_token_path(directory, tenant) for tenant in tenants}


def read_tenant_token(directory: Path, tenant: str) -> str:
    return tenant_token_path(directory, tenant).read_text().strip()
