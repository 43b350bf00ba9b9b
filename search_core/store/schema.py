"""Schema migrations: numbered SQL files applied in order, the version kept in schema_version."""

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from search_core.store.base import StoreError
from search_core.store.dialect import Tx

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# Created by the runner itself, not by a migration: it must exist to say which ran.
_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at DOUBLE PRECISION NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(script: str) -> list[str]:
    """The statements of a migration file: `--` comment lines dropped, split at a `;` that
    ends a line (so the files must not put `;` at a line end inside a statement)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    statements = re.split(r";[ \t]*(?:\n|$)", "\n".join(lines))
    return [statement.strip() for statement in statements if statement.strip()]


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """The migrations in `directory` (default: the packaged store/migrations), by version.

    Versions must run 1, 2, 3, ... without gaps, so a lost file cannot go unnoticed.
    """
    if directory is None:
        directory = resources.files("search_core.store").joinpath("migrations")
    found: list[Migration] = []
    for entry in directory.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        statements = tuple(split_statements(entry.read_text(encoding="utf-8")))
        found.append(Migration(int(match.group(1)), match.group(2), statements))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(f"schema migrations must be numbered 1..n without gaps, got {versions}")
    return found


def current_version(tx: Tx) -> int:
    row = tx.one("SELECT MAX(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def apply_migrations(tx: Tx, migrations: Sequence[Migration]) -> int:
    """Apply the pending migrations inside `tx`; return the version now in place.

    The caller's transaction is a write transaction, and on PostgreSQL the dialect's
    migration lock is taken first, so two processes starting together apply each
    migration once; DDL is transactional on both backends, so a failed one leaves nothing.
    """
    if tx.dialect.migration_lock:
        tx.execute(tx.dialect.migration_lock)
    tx.execute(_VERSION_TABLE)
    version = current_version(tx)
    latest = migrations[-1].version if migrations else 0
    if version > latest:
        raise StoreError(
            f"the database is at schema version {version}, newer than this code's {latest}"
        )
    for migration in migrations:
        if migration.version <= version:
            continue
        for statement in migration.statements:
            tx.execute(statement)
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, time.time()),
        )
        version = migration.version
    return version
