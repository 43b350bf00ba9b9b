"""The tenant registry: tenants, their quotas and their hashed API tokens, in one JSON file.

Every service reads the file named by ``NASFORGE_<PREFIX>_AUTH_TOKENS_FILE`` through a
`TenantDirectory`, which re-reads it when it changes (rotation and revocation need no
restart). `edit_registry` is the one writer (`nasforge tenant`, `nasforge deploy secrets`,
the local stack). It rewrites the file in place under an exclusive lock, because compose
mounts it as a single-file bind mount, which never sees a file renamed over it.

Files of the older form ``{"tokens": [{"sha256": HEX, "tenant" | "service": NAME}]}``
still load; the writer adds token ids and the tenants they name when it next writes.
"""

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
TOKEN_ID = re.compile(r"^tok-[0-9a-f]{10}$")
_DIGEST_HEX = re.compile(r"^[0-9a-f]{64}$")


class TokenConfigError(ValueError):
    """The token configuration is malformed."""


class RegistryError(ValueError):
    """A registry change that cannot be made: unknown or duplicate tenant, unknown token id."""


@dataclass(frozen=True)
class Principal:
    """Who presented a token: a tenant, or an internal service acting for tenants."""

    name: str
    internal: bool = False


@dataclass(frozen=True)
class Quotas:
    """A tenant's limits; None: the enforcing service's own default applies."""

    llm_tokens_per_day: int | None = None
    concurrent_checks: int | None = None
    concurrent_trainings: int | None = None
    gpu_minutes_per_day: float | None = None
    running_searches: int | None = None

    def to_dict(self) -> dict[str, int | float]:
        """The quotas that are set (the form stored in the file)."""
        values = ((name, getattr(self, name)) for name in QUOTA_NAMES)
        return {name: value for name, value in values if value is not None}

    @classmethod
    def from_dict(cls, values: dict) -> "Quotas":
        if not isinstance(values, dict):
            raise TokenConfigError(f"quotas must be an object, not {values!r}")
        return cls(**{name: _quota_value(name, value) for name, value in values.items()})


QUOTA_NAMES = tuple(f.name for f in fields(Quotas))


def _quota_value(name: str, value: object) -> int | float | None:
    """A validated quota value: a non-negative int (float for GPU minutes), or None."""
    if name not in QUOTA_NAMES:
        raise TokenConfigError(f"unknown quota {name!r} (known: {', '.join(QUOTA_NAMES)})")
    if value is None:
        return None
    allowed = (int, float) if name == "gpu_minutes_per_day" else (int,)
    if isinstance(value, bool) or not isinstance(value, allowed) or value < 0:
        kind = "a non-negative number" if float in allowed else "a non-negative integer"
        raise TokenConfigError(f"quota {name} must be {kind}, not {value!r}")
    return value


def parse_quota(name: str, text: str) -> int | float | None:
    """A quota value as typed on the command line; empty text unsets it."""
    if text == "":
        return _quota_value(name, None)
    try:
        value = float(text) if name == "gpu_minutes_per_day" else int(text)
    except ValueError:
        value = text
    return _quota_value(name, value)


def hash_token(token: str) -> str:
    """The hex SHA-256 digest under which a token is configured."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_valid_tenant_name(name: str) -> bool:
    """Tenant names are short lower-case slugs, safe in labels and logs."""
    return isinstance(name, str) and bool(TENANT_NAME.match(name))


def new_token() -> str:
    """A fresh bearer token; only its digest is ever stored."""
    return secrets.token_urlsafe(32)


def _new_token_id() -> str:
    return f"tok-{secrets.token_hex(5)}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenTable:
    """Configured token digests and the principal each one stands for."""

    def __init__(self, entries: list[tuple[str, Principal]]) -> None:
        self._entries: list[tuple[bytes, Principal]] = []
        for digest_hex, principal in entries:
            try:
                digest = bytes.fromhex(digest_hex)
            except (TypeError, ValueError) as exc:
                raise TokenConfigError(f"token digest for {principal.name!r} is not hex") from exc
            if len(digest) != hashlib.sha256().digest_size:
                raise TokenConfigError(f"token digest for {principal.name!r} is not SHA-256")
            if not is_valid_tenant_name(principal.name):
                raise TokenConfigError(f"invalid principal name {principal.name!r}")
            self._entries.append((digest, principal))

    @classmethod
    def from_json(cls, text: str) -> "TokenTable":
        """The active (unrevoked) tokens of a registry file's text."""
        return Registry.from_json(text).token_table()

    @classmethod
    def from_file(cls, path: Path) -> "TokenTable":
        return cls.from_json(path.read_text(encoding="utf-8"))

    def resolve(self, token: str) -> Principal | None:
        """The principal of a presented token, or None; constant time in the match."""
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        found = None
        for digest, principal in self._entries:  # every digest, no early exit
            if secrets.compare_digest(digest, presented):
                found = principal
        return found


@dataclass
class TokenRecord:
    """One configured token: its digest, whom it stands for, and its life."""

    sha256: str
    principal: Principal
    id: str | None = None
    label: str | None = None
    created: str | None = None
    revoked: str | None = None

    def to_dict(self) -> dict:
        row: dict = {"id": self.id, "sha256": self.sha256}
        row["service" if self.principal.internal else "tenant"] = self.principal.name
        if self.label is not None:
            row["label"] = self.label
        row["created"] = self.created
        row["revoked"] = self.revoked
        return row

    @classmethod
    def from_dict(cls, row: object) -> "TokenRecord":
        if not isinstance(row, dict) or "sha256" not in row:
            raise TokenConfigError(f"token entry without sha256: {row!r}")
        if ("tenant" in row) == ("service" in row):
            raise TokenConfigError("a token entry names exactly one of tenant and service")
        principal = Principal(row["tenant"]) if "tenant" in row else Principal(row["service"], True)
        if not is_valid_tenant_name(principal.name):
            raise TokenConfigError(f"invalid principal name {principal.name!r}")
        digest = row["sha256"]
        if not isinstance(digest, str) or not _DIGEST_HEX.match(digest.lower()):
            raise TokenConfigError(f"token digest for {principal.name!r} is not SHA-256 hex")
        token_id = row.get("id")
        if token_id is not None and not (isinstance(token_id, str) and TOKEN_ID.match(token_id)):
            raise TokenConfigError(f"token id {token_id!r} is not tok- and 10 hex digits")
        for key in ("label", "created", "revoked"):
            if not isinstance(row.get(key), str | None):
                raise TokenConfigError(f"token {key} must be a string or null")
        label, created, revoked = row.get("label"), row.get("created"), row.get("revoked")
        return cls(digest.lower(), principal, token_id, label, created, revoked)


@dataclass
class TenantRecord:
    created: str | None = None
    quotas: Quotas = field(default_factory=Quotas)


@dataclass(frozen=True)
class IssuedToken:
    """A token just added: shown once, never stored."""

    id: str
    token: str


@dataclass
class Registry:
    """The parsed registry file; its methods are the changes `edit_registry` may make."""

    tenants: dict[str, TenantRecord] = field(default_factory=dict)
    tokens: list[TokenRecord] = field(default_factory=list)

    @classmethod
    def from_json(cls, text: str) -> "Registry":
        try:
            document = json.loads(text)
            rows = document["tokens"]
            tenant_rows = document.get("tenants", {})
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise TokenConfigError(
                f"token file is not of the form {{'tokens': [...]}}: {exc}"
            ) from exc
        if not isinstance(rows, list):
            raise TokenConfigError("'tokens' must be a list")
        if not isinstance(tenant_rows, dict):
            raise TokenConfigError("'tenants' must be an object")
        registry = cls()
        for name, row in tenant_rows.items():
            if not is_valid_tenant_name(name) or not isinstance(row, dict):
                raise TokenConfigError(f"invalid tenant entry {name!r}")
            created = row.get("created")
            if not isinstance(created, str | None):
                raise TokenConfigError(f"tenant {name!r}: created must be a string or null")
            registry.tenants[name] = TenantRecord(created, Quotas.from_dict(row.get("quotas", {})))
        registry.tokens = [TokenRecord.from_dict(row) for row in rows]
        ids = [t.id for t in registry.tokens if t.id is not None]
        if len(ids) != len(set(ids)):
            raise TokenConfigError("token ids are not unique")
        for token in registry.tokens:  # older files name tenants only in their tokens
            if not token.principal.internal:
                registry.tenants.setdefault(token.principal.name, TenantRecord())
        return registry

    def to_json(self) -> str:
        for token in self.tokens:  # tokens of older files get ids, so they can be revoked
            if token.id is None:
                token.id = self._unused_token_id()
        tenants = {
            name: {"created": record.created, "quotas": record.quotas.to_dict()}
            for name, record in sorted(self.tenants.items())
        }
        document = {"tenants": tenants, "tokens": [token.to_dict() for token in self.tokens]}
        return json.dumps(document, indent=1) + "\n"

    def token_table(self) -> TokenTable:
        """The tokens that are not revoked."""
        return TokenTable([(t.sha256, t.principal) for t in self.tokens if t.revoked is None])

    def add_tenant(self, name: str, quotas: Quotas = Quotas()) -> None:
        if not is_valid_tenant_name(name):
            raise RegistryError(f"invalid tenant name {name!r} (lower-case letters, digits, - _)")
        if name in self.tenants:
            raise RegistryError(f"tenant {name!r} already exists")
        self.tenants[name] = TenantRecord(_now(), Quotas.from_dict(quotas.to_dict()))

    def set_quotas(self, name: str, changes: dict[str, int | float | None]) -> Quotas:
        """Set (or, with None, unset) some quotas of a tenant; its quotas afterwards."""
        record = self._tenant(name)
        checked = {key: _quota_value(key, value) for key, value in changes.items()}
        record.quotas = replace(record.quotas, **checked)
        return record.quotas

    def add_token(
        self, tenant: str, *, label: str | None = None, token: str | None = None
    ) -> IssuedToken:
        """A new token for an existing tenant (a fresh random one unless given)."""
        self._tenant(tenant)
        return self._add(Principal(tenant), label, token)

    def add_service_token(self, service: str, *, token: str | None = None) -> IssuedToken:
        """A token for an internal caller, which acts for the tenant its calls name."""
        if not is_valid_tenant_name(service):
            raise RegistryError(f"invalid service name {service!r}")
        return self._add(Principal(service, internal=True), None, token)

    def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke a token by id (revoking twice keeps the first time)."""
        for token in self.tokens:
            if token.id == token_id:
                if token.revoked is None:
                    token.revoked = _now()
                return token
        raise RegistryError(f"no token with id {token_id!r}")

    def _tenant(self, name: str) -> TenantRecord:
        if name not in self.tenants:
            raise RegistryError(f"no tenant named {name!r}")
        return self.tenants[name]

    def _add(self, principal: Principal, label: str | None, token: str | None) -> IssuedToken:
        token = token if token is not None else new_token()
        token_id = self._unused_token_id()
        self.tokens.append(TokenRecord(hash_token(token), principal, token_id, label, _now()))
        return IssuedToken(token_id, token)

    def _unused_token_id(self) -> str:
        used = {t.id for t in self.tokens}
        while (token_id := _new_token_id()) in used:
            pass
        return token_id


@contextlib.contextmanager
def edit_registry(path: Path, *, mode: int = 0o600) -> Iterator[Registry]:
    """Read-modify-write the registry file in place, under an exclusive lock.

    The file is created (empty registry, ``mode``) when missing. It is never replaced by a
    rename: a compose secret is a single-file bind mount that would keep seeing the old
    file. Readers take a shared lock, so they never see a half-written file of ours. The
    changes are written only when the block ends without an exception.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        before = os.fstat(handle.fileno())
        text = handle.read()
        registry = Registry.from_json(text) if text.strip() else Registry()
        try:
            yield registry
        except BaseException:
            if not text:  # leave no empty file behind when the first change failed
                path.unlink(missing_ok=True)
            raise
        handle.seek(0)
        handle.write(registry.to_json())
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
        # The file's mtime comes from a coarse clock: make sure readers see a change even
        # when two edits of the same size fall into the same tick.
        if os.fstat(handle.fileno()).st_mtime_ns <= before.st_mtime_ns:
            bumped = before.st_mtime_ns + 1
            os.utime(handle.fileno(), ns=(bumped, bumped))


def read_registry(path: Path) -> Registry:
    """The registry as it is now (shared lock while reading)."""
    with path.open(encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        return Registry.from_json(handle.read())


@dataclass(frozen=True)
class _Snapshot:
    registry: Registry
    table: TokenTable


def _stat_key(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class TenantDirectory:
    """Token -> principal and tenant -> quotas, following the registry file as it changes.

    ``resolve`` and ``quotas`` look at the file at most every ``check_interval_seconds``
    and re-read it when its (mtime, size, inode) changed. A file that does not parse (a
    hand edit caught half-way) keeps the previous table; the error is logged once.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        path: Path | None = None,
        check_interval_seconds: float = 1.0,
        loaded_key: tuple[int, int, int] | None = None,
    ) -> None:
        self._snapshot = _Snapshot(registry, registry.token_table())
        self._path = path
        self._interval = check_interval_seconds
        self._loaded_key = loaded_key
        self._failed_key: object = None
        self._checked_at = time.monotonic()
        self._refreshing = threading.Lock()

    @classmethod
    def from_file(cls, path: Path, *, check_interval_seconds: float = 1.0) -> "TenantDirectory":
        """Load ``path`` now (errors raise) and follow its changes from then on."""
        with path.open(encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            key = _stat_key(os.fstat(handle.fileno()))
            registry = Registry.from_json(handle.read())
        return cls(
            registry, path=path, check_interval_seconds=check_interval_seconds, loaded_key=key
        )

    def resolve(self, token: str) -> Principal | None:
        """The principal of an active token, or None (unknown or revoked)."""
        self._refresh()
        return self._snapshot.table.resolve(token)

    def quotas(self, tenant: str) -> Quotas:
        """The tenant's quotas; Quotas() (all defaults) for a tenant it does not know."""
        self._refresh()
        record = self._snapshot.registry.tenants.get(tenant)
        return record.quotas if record is not None else Quotas()

    def tenants(self) -> list[str]:
        self._refresh()
        return sorted(self._snapshot.registry.tenants)

    def _refresh(self) -> None:
        if self._path is None or time.monotonic() - self._checked_at < self._interval:
            return
        if not self._refreshing.acquire(blocking=False):
            return  # another thread is reading the file; the current table serves meanwhile
        try:
            self._checked_at = time.monotonic()
            self._reload_if_changed()
        finally:
            self._refreshing.release()

    def _reload_if_changed(self) -> None:
        try:
            with self._path.open(encoding="utf-8") as handle:
                try:  # never wait on a writer: the next check will see its result
                    fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
                key = _stat_key(os.fstat(handle.fileno()))
                if key == self._loaded_key:
                    return
                registry = Registry.from_json(handle.read())
        except (OSError, UnicodeDecodeError, TokenConfigError) as exc:
            # Not recorded as loaded: a file caught half-way is read again at the next check.
            failure = (type(exc), str(exc))
            if failure != self._failed_key:
                self._failed_key = failure
                log.error("keeping the previous tenant table: %s: %s", self._path, exc)
            return
        self._snapshot = _Snapshot(registry, registry.token_table())
        self._loaded_key = key
        self._failed_key = None
        active = sum(1 for t in registry.tokens if t.revoked is None)
        log.info(
            "reloaded %s: %d tenants, %d active tokens", self._path, len(registry.tenants), active
        )


def load_directory(path: Path | None) -> TenantDirectory | None:
    """The directory of a service's ``auth_tokens_file``; None when none is configured."""
    return TenantDirectory.from_file(path) if path is not None else None
