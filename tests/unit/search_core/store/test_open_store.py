"""open_store: which URL opens which backend, and that the schema is in place on return."""

from pathlib import Path

import pytest

from search_core.store import open_store
from search_core.store.schema import load_migrations
from search_core.store.sqlite import SqliteStore


def test_a_sqlite_url_with_an_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with open_store(f"sqlite:///{path}") as store:  # sqlite:////tmp/... as in SQLAlchemy
        assert isinstance(store, SqliteStore) and store.path == path
        assert store.migrate() == len(load_migrations())
    assert path.exists()


def test_a_sqlite_url_with_a_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///data/rel.db") as store:
        assert isinstance(store, SqliteStore)
    assert (tmp_path / "data" / "rel.db").exists()


def test_a_plain_path_opens_sqlite(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "plain.db")) as store:
        assert isinstance(store, SqliteStore)
        assert store.list_tenants() == []  # migrated: the tables exist


@pytest.mark.parametrize(
    "url",
    ["", ":memory:", "sqlite://", "sqlite:///", "mysql://db/x", "postgresql+psycopg://h/db"],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        open_store(url)
