"""download_weights: the DownloadWeights stream of a real server written to disk, checked
against the size and SHA-256 of its first chunk; a lying or unknown answer leaves nothing."""

import asyncio
import hashlib
import os

import pytest

from nasforge.client import AsyncSearchClient, DownloadMismatch, NotFound, SearchClient

WEIGHTS = os.urandom(4500)  # five chunks, the last one short


async def test_weights_are_written_whole_and_checked(api, tmp_path):
    api.keep_weights("c-1", WEIGHTS)
    async with AsyncSearchClient(api.target, api.tokens["acme"], tls=None) as acme:
        written = await acme.download_weights("c-1", tmp_path / "model.pt")
        assert written == tmp_path / "model.pt" and written.read_bytes() == WEIGHTS
        into_folder = await acme.download_weights("c-1", tmp_path)  # a folder: <id>.pt there
        assert into_folder == tmp_path / "c-1.pt" and into_folder.read_bytes() == WEIGHTS

    def blocking():
        with SearchClient(api.target, api.tokens["acme"], tls=None) as client:
            return client.download_weights("c-1", tmp_path / "sync" / "model.pt")

    assert (await asyncio.to_thread(blocking)).read_bytes() == WEIGHTS
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["c-1.pt", "model.pt", "model.pt", "sync"]


async def test_a_sha256_that_does_not_match_leaves_nothing(api, tmp_path):
    api.keep_weights("c-1", WEIGHTS, announced=hashlib.sha256(b"other").hexdigest())
    async with AsyncSearchClient(api.target, api.tokens["acme"], tls=None) as acme:
        with pytest.raises(DownloadMismatch, match="is not the announced") as mismatch:
            await acme.download_weights("c-1", tmp_path / "model.pt")
    assert "c-1" in mismatch.value.message
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left behind

    def blocking():
        with SearchClient(api.target, api.tokens["acme"], tls=None) as client:
            client.download_weights("c-1", tmp_path / "model.pt")

    with pytest.raises(DownloadMismatch):
        await asyncio.to_thread(blocking)
    assert list(tmp_path.iterdir()) == []


async def test_a_first_chunk_without_its_checksum_is_refused(api, tmp_path):
    api.keep_weights("c-1", WEIGHTS, announced="not-a-sha256")
    async with AsyncSearchClient(api.target, api.tokens["acme"], tls=None) as acme:
        with pytest.raises(DownloadMismatch, match="did not announce"):
            await acme.download_weights("c-1", tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


async def test_unknown_or_another_tenants_weights_are_not_found(api, tmp_path):
    api.keep_weights("c-1", WEIGHTS)
    async with AsyncSearchClient(api.target, api.tokens["rival"], tls=None) as rival:
        with pytest.raises(NotFound, match="no weights kept for candidate c-1"):
            await rival.download_weights("c-1", tmp_path / "model.pt")
        with pytest.raises(NotFound):
            await rival.download_weights("c-2", tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []
