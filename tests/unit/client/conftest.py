"""nasforge.client's tests run against a real search_core on loopback
(tests.support.search_api)."""

import pytest

from tests.support.search_api import running_api


@pytest.fixture
async def api(tmp_path_factory):
    # The server's files live apart from the test's own tmp_path, which tests list.
    async with running_api(tmp_path_factory.mktemp("search_core")) as instance:
        yield instance
