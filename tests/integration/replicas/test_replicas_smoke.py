"""Searches submitted through two search_core replicas on one PostgreSQL all run to the
end, and every replica sees every search."""

import asyncio

import pytest

from nasforge.search_core.v1 import search_core_pb2 as pb
from tests.integration.replicas.conftest import search_clients, wait_until_ended
from tests.support.searches import template_search

pytestmark = pytest.mark.timeout(600)


async def test_searches_through_both_replicas_all_succeed(two_replicas):
    assert len(set(two_replicas.targets())) == 2
    async with search_clients(two_replicas) as clients:
        submitted = []  # (replica index, search id); own seeds: repeated code is a duplicate
        for n in range(4):
            trained = n == 0
            config = template_search(
                candidates=2, epochs=1 if trained else 0, train_samples=512, seed=10 + n
            )
            replica = n % len(clients)
            submitted.append((replica, await clients[replica].submit(config)))
        ended = await asyncio.gather(
            *(wait_until_ended(clients[replica], search_id) for replica, search_id in submitted)
        )
        for (replica, search_id), search in zip(submitted, ended, strict=True):
            assert search.state == pb.SEARCH_STATE_SUCCEEDED, (replica, search)
            assert search.candidates_evaluated >= 2, search
            # The other replica reads the same search from the shared store.
            other = clients[1 - replica]
            seen = (await other.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
            assert seen.state == pb.SEARCH_STATE_SUCCEEDED
