"""Both clients over TLS to a real search_core (rpc.certs' development CA): the CA given,
calls go through; a client that trusts another CA, or speaks plaintext, gets Unavailable."""

import asyncio

import pytest

from nasforge.client import AsyncSearchClient, ClientTLS, SearchClient, Unavailable
from rpc.certs import ca_file, write_dev_certificates
from tests.support.search_api import CONFIG, running_api


@pytest.fixture
async def tls_api(tmp_path_factory):
    certs = tmp_path_factory.mktemp("certs")
    write_dev_certificates(certs)
    other = tmp_path_factory.mktemp("other-ca")
    write_dev_certificates(other)
    async with running_api(tmp_path_factory.mktemp("search_core"), certs=certs) as api:
        yield api, ClientTLS(ca_file(certs)), ClientTLS(ca_file(other))


async def test_both_clients_speak_tls_with_the_ca(tls_api):
    api, tls, wrong = tls_api
    token = api.tokens["acme"]
    async with AsyncSearchClient(api.target, token, tls=tls) as acme:
        search_id = await acme.submit(CONFIG)

    def blocking():
        with SearchClient(api.target, token, tls=tls) as client:
            return [s.search_id for s in client.list_searches()]

    assert await asyncio.to_thread(blocking) == [search_id]
    for refused in (wrong, None):  # another CA's trust, or no TLS at all
        async with AsyncSearchClient(api.target, token, tls=refused, timeout_seconds=5) as c:
            with pytest.raises(Unavailable):
                await c.get(search_id)
