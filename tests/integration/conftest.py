"""Integration tests that start containers are marked `docker` (see README, Tests).

A real PostgreSQL server (tests/support/postgres.py) is started once per session for the
suites that ask for `postgres_server` or `postgres_url` (a fresh database per test).
"""

import pathlib
from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, running_postgres

DOCKER_SUITES = ("sandbox", "trainer", "search", "docker_proxy", "observability", "replicas")


def pytest_collection_modifyitems(items):
    here = pathlib.Path(__file__).parent
    roots = [here / suite for suite in DOCKER_SUITES]
    for item in items:
        if any(root in pathlib.Path(item.fspath).parents for root in roots):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)
