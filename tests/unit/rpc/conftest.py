"""Fixtures: a token table on disk and a real echo server on 127.0.0.1:0."""

import json

import pytest

from rpc.auth import hash_token
from rpc.client import open_channel
from rpc.server import start_server
from rpc.settings import ServerSettings
from tests.unit.rpc.fake_gateway import echo_binding

TENANT_TOKEN = "tok-acme-8c1f"
SERVICE_TOKEN = "tok-search-core-77aa"


@pytest.fixture
def tokens_file(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(
        json.dumps(
            {
                "tokens": [
                    {"sha256": hash_token(TENANT_TOKEN), "tenant": "acme"},
                    {"sha256": hash_token(SERVICE_TOKEN), "service": "search-core"},
                ]
            }
        )
    )
    return path


@pytest.fixture
def settings(tokens_file):
    return ServerSettings(auth_tokens_file=tokens_file, max_message_bytes=64 * 1024, plaintext=True)


@pytest.fixture
async def server(settings):
    running = await start_server([echo_binding()], settings)
    yield running
    await running.shutdown(0)


@pytest.fixture
async def connect(server):
    """Open a channel to the server with the given token (closed at teardown)."""
    channels = []

    def _connect(token, **options):
        channel = open_channel(f"127.0.0.1:{server.port}", token=token, **options)
        channels.append(channel)
        return channel

    yield _connect
    for channel in channels:
        await channel.close()
