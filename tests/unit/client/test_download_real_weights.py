"""download_weights through the real DownloadWeights: search_core streaming from a real
trainer's WeightsStore (tests/support/kept_weights.py); the file written is the candidate's
state_dict with its recorded sha256, and weights removed by retention are NotFound with the
trainer's reason. Both clients, sync and async."""

import asyncio
import io

import pytest
import torch

from nasforge.client import NotFound, SearchClient
from tests.support.kept_weights import CODES, TENANT_TOKENS, kept_weights_search, sha256


@pytest.fixture
async def search(tmp_path_factory):
    async with kept_weights_search(tmp_path_factory.mktemp("stack")) as finished:
        yield finished


async def test_kept_weights_download_and_load_removed_ones_are_not_found(search, tmp_path):
    acme = search.clients["acme"]  # the CLI's client: an AsyncSearchClient
    by_code = {c.code: c for c in await acme.candidates(search.search_id)}
    newest, oldest = by_code[CODES[3]], by_code[CODES[0]]

    written = await acme.download_weights(newest.summary.candidate_id, tmp_path)
    assert sha256(written.read_bytes()) == newest.weights.sha256
    state = torch.load(io.BytesIO(written.read_bytes()), weights_only=True)
    assert state["body.weight"].shape == (10, 103)

    with pytest.raises(NotFound, match="no longer kept"):
        await acme.download_weights(oldest.summary.candidate_id, tmp_path / "old.pt")
    assert not (tmp_path / "old.pt").exists()

    def blocking():
        with SearchClient(search.target, TENANT_TOKENS["acme"], tls=None) as client:
            return client.download_weights(newest.summary.candidate_id, tmp_path / "sync.pt")

    assert (await asyncio.to_thread(blocking)).read_bytes() == written.read_bytes()
    with pytest.raises(NotFound):
        await search.clients["globex"].download_weights(newest.summary.candidate_id, tmp_path)
