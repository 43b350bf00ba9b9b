"""Integration tests that start containers are marked `docker` (see README, Tests)."""

import pathlib

import pytest

DOCKER_SUITES = ("sandbox", "trainer", "search", "docker_proxy", "observability")


def pytest_collection_modifyitems(items):
    here = pathlib.Path(__file__).parent
    roots = [here / suite for suite in DOCKER_SUITES]
    for item in items:
        if any(root in pathlib.Path(item.fspath).parents for root in roots):
            item.add_marker(pytest.mark.docker)
