"""`nasforge knowledge extract`: a paper through the real gateway into a stored, merged tree.

The upstream is the canned TGI peer (it answers the fixed template's JSON), so the test is
about our path: the CLI, the gateway's JSON extraction, parsing, merging and the store.
"""

import asyncio
import json
import sys

from search_core.knowledge.tree import KnowledgeTree
from search_core.store import open_store
from tests.integration.llm_gateway.conftest import REPO_ROOT, TOKEN, model

CATEGORIES = (
    "feature_extraction_operators",
    "normalization",
    "activation",
    "input_encoding",
    "residual_multi_branch",
    "feature_fusion",
    "adaptive_recalibration",
    "network_level_scaling",
)


def _answer() -> str:
    ideas = {name: [] for name in CATEGORIES}
    ideas["activation"] = [
        {"attribute": "Gated Sigmoid Unit", "description": "Multiply a branch by a sigmoid gate."},
        {"attribute": "GELU", "description": "Gaussian error linear unit."},  # already known
    ]
    ideas["feature_fusion"] = [
        {"attribute": "Cross-scale lattice fusion", "description": "Fuse every pair of scales."}
    ]
    return json.dumps(ideas)


async def _extract(paper, store, port, token_file, *extra) -> tuple[int, str, str]:
    """The real CLI as a subprocess (the gateway runs in this test's event loop)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "knowledge",
        "extract",
        str(paper),
        "--store",
        store,
        "--gateway",
        f"127.0.0.1:{port}",
        "--token-file",
        str(token_file),
        "--plaintext",  # the test's gateway serves plaintext, as set explicitly there
        "--max-new-tokens",
        "200",
        *extra,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


async def test_a_papers_ideas_are_merged_into_the_stored_tree(peer, serve_gateway, tmp_path):
    peer.behaviour.answer = _answer()
    gateway = await serve_gateway([model("peer", peer.url)])
    paper = tmp_path / "gated.txt"
    paper.write_text("We propose gated sigmoid units and lattice fusion across scales.")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    store_url = str(tmp_path / "store.db")

    code, out, err = await _extract(paper, store_url, gateway.port, token_file, "--tree", "papers")
    assert code == 0, err
    report = json.loads(out)
    assert sorted(report["added"]) == [
        "activation/Gated Sigmoid Unit",
        "feature_fusion/Cross-scale lattice fusion",
    ]
    assert report["attributes"] == len(KnowledgeTree.default()) + 2
    prompt = peer.record.requests[-1]["inputs"]
    assert "lattice fusion across scales" in prompt

    _, again, _ = await _extract(paper, store_url, gateway.port, token_file, "--tree", "papers")
    assert json.loads(again)["added"] == []  # merging the same paper twice adds nothing
    store = open_store(store_url)
    try:
        stored = KnowledgeTree.from_dict(store.get_knowledge_tree("papers").document)
    finally:
        store.close()
    assert stored.find("gated sigmoid unit") is not None


async def test_an_answer_that_is_not_the_template_is_reported_and_stores_nothing(
    peer, serve_gateway, tmp_path
):
    peer.behaviour.answer = "I cannot read papers, sorry."
    gateway = await serve_gateway([model("peer", peer.url)])
    paper = tmp_path / "p.txt"
    paper.write_text("text")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    store_url = str(tmp_path / "store.db")
    code, out, _ = await _extract(paper, store_url, gateway.port, token_file)
    assert code == 1
    assert "not a usable tree" in out
    store = open_store(store_url)
    try:
        assert store.get_knowledge_tree("extracted") is None
    finally:
        store.close()
