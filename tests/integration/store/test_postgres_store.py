"""The PostgreSQL store: the shared contract on a real server, plus what only it has."""

import psycopg
import pytest

from search_core.store import open_store
from search_core.store.postgres import PostgresStore
from search_core.store.schema import load_migrations
from tests.support.postgres import PostgresServer
from tests.unit.search_core.store.contract import StoreContract
from tests.unit.search_core.store.contract.fixtures import run_together, search


class TestPostgresContract(StoreContract):
    @pytest.fixture
    def store_url(self, postgres_url: str) -> str:
        return postgres_url


def test_the_short_scheme_opens_postgres_too(postgres_url: str) -> None:
    with open_store(postgres_url.replace("postgresql://", "postgres://", 1)) as store:
        assert isinstance(store, PostgresStore)
        assert store.list_tenants() == []


def test_processes_migrating_at_once_apply_each_migration_once(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(4)]
    try:
        versions = run_together(4, lambda i: stores[i].migrate())
    finally:
        for store in stores:
            store.close()
    assert versions == [len(load_migrations())] * 4
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [row[0] for row in rows] == list(range(1, len(load_migrations()) + 1))


def test_a_dropped_connection_is_replaced_before_the_next_call(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    """The pool checks a connection as it lends it: one the server dropped costs no call."""
    with open_store(postgres_url) as store:
        store.create_search(search("s1"))
        database = postgres_url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
            (terminated,) = admin.execute(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert terminated >= 1
        assert store.get_search("t1", "s1") is not None
