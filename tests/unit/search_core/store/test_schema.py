"""The migration runner: file discovery, statement splitting, ordering, refusal of the unknown."""

import sqlite3
from pathlib import Path

import pytest

from search_core.store import StoreError
from search_core.store.codec import (
    CANDIDATES,
    EVENTS,
    KNOWLEDGE_TREES,
    SEARCHES,
    TENANTS,
    ZOO_MODELS,
    RecordCodec,
)
from search_core.store.dialect import Tx
from search_core.store.schema import Migration, apply_migrations, load_migrations, split_statements
from search_core.store.sqlite import SQLITE, SqliteStore

ALL_CODECS = [TENANTS, SEARCHES, EVENTS, CANDIDATES, ZOO_MODELS, KNOWLEDGE_TREES]


def test_statements_are_split_at_line_ends_and_comments_dropped() -> None:
    script = "-- a comment; not a statement;\nCREATE TABLE a (x TEXT);\n\nCREATE INDEX i ON a (x)\n"
    assert split_statements(script) == ["CREATE TABLE a (x TEXT)", "CREATE INDEX i ON a (x)"]


def test_the_packaged_migrations_start_at_one() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"
    assert all(migration.statements for migration in migrations)


def test_migration_files_must_be_numbered_without_gaps(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (x TEXT);\n")
    (tmp_path / "0003_third.sql").write_text("CREATE TABLE c (x TEXT);\n")
    (tmp_path / "README.md").write_text("not a migration")
    with pytest.raises(StoreError, match="without gaps"):
        load_migrations(tmp_path)
    (tmp_path / "0002_second.sql").write_text("CREATE TABLE b (x TEXT);\n")
    assert [m.name for m in load_migrations(tmp_path)] == ["first", "second", "third"]


def _apply(path: Path, migrations: list[Migration]) -> int:
    """apply_migrations in one write transaction on a raw connection, as a store runs it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            version = apply_migrations(Tx(cursor, SQLITE), migrations)
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
        return version
    finally:
        conn.close()


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_pending_migrations_apply_in_order_once(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    one = Migration(1, "one", ("CREATE TABLE a (x TEXT)",))
    two = Migration(2, "two", ("CREATE TABLE b (x TEXT)", "INSERT INTO b (x) VALUES ('hi')"))
    assert _apply(db, [one]) == 1
    assert _apply(db, [one, two]) == 2
    assert _apply(db, [one, two]) == 2  # nothing left to do: no "table exists" error
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version, name FROM schema_version").fetchall() == [
            (1, "one"),
            (2, "two"),
        ]
        assert conn.execute("SELECT COUNT(*) FROM b").fetchone()[0] == 1


def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    one = Migration(1, "one", ("CREATE TABLE a (x TEXT)",))
    broken = Migration(2, "broken", ("CREATE TABLE b (x TEXT)", "CREATE TABLE a (y TEXT)"))
    _apply(db, [one])
    with pytest.raises(sqlite3.OperationalError):
        _apply(db, [one, broken])
    assert "b" not in _tables(db)
    assert _apply(db, [one]) == 1


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    one = Migration(1, "one", ("CREATE TABLE a (x TEXT)",))
    two = Migration(2, "two", ("CREATE TABLE b (x TEXT)",))
    _apply(db, [one, two])
    with pytest.raises(StoreError, match="newer"):
        _apply(db, [one])


@pytest.mark.parametrize("codec", ALL_CODECS, ids=lambda codec: codec.table)
def test_the_migrated_schema_has_a_column_for_every_record_field(
    tmp_path: Path, codec: RecordCodec[object]
) -> None:
    db = tmp_path / "s.db"
    _apply(db, load_migrations())
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({codec.table})")}
    missing = set(codec.write_columns) - columns
    assert not missing, f"{codec.table} lacks {sorted(missing)}: add a migration for them"


def test_a_candidate_stored_before_warnings_existed_reads_back_with_none(tmp_path: Path) -> None:
    """Migration 3 adds the candidates' warnings: rows written before it read back with []."""
    db = tmp_path / "s.db"
    _apply(db, load_migrations()[:2])
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO searches (search_id, tenant_id, method, config, state, created_at)"
            " VALUES ('s1', 't1', 'fairnad', '{}', 'succeeded', 1.0)"
        )
        conn.execute(
            "INSERT INTO candidates (candidate_id, search_id, tenant_id, slot, status, generator,"
            " snippets, idea, findings, hyperparameters, epochs, scores, history, created_at)"
            " VALUES ('c1', 's1', 't1', 0, 'done', 'llm', '[]', '{}', '[]', '{}', '[]', '{}',"
            " '[]', 1.0)"
        )
    with SqliteStore(db) as store:
        assert store.migrate() == len(load_migrations())
        candidate = store.get_candidate("t1", "c1")
    assert candidate is not None and candidate.warnings == []
