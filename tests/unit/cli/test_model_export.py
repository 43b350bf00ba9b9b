"""`nasforge export`: a finished search's best models written through the public API of a
real search_core (and a real trainer behind it, tests/support/kept_weights.py), read back:
every manifest checksum holds, the weights load with torch.load(weights_only=True) into the
model's own module, LEMUR's layout has its paths, and the model whose weights retention
removed is exported without them, with the reason in the manifest and on the screen."""

import asyncio
import hashlib
import json
import re

import pytest
import torch

from cli.main import main
from search_core.identity import model_name, prefix_of
from tests.support.kept_weights import CODES, TENANT_TOKENS, VALIDATION, kept_weights_search

BEST_FIRST = [CODES[2], CODES[3], CODES[0]]  # validation 0.9, 0.7, 0.6; CODES[1] never trained


@pytest.fixture
async def search(tmp_path):
    async with kept_weights_search(tmp_path) as finished:
        yield finished


async def _export(search, tmp_path, capsys, *flags, tenant="acme") -> tuple[int, str, str]:
    token = tmp_path / f"{tenant}.token"
    token.write_text(TENANT_TOKENS[tenant])
    argv = ["export", search.search_id, "--target", search.target, "--plaintext"]
    code = await asyncio.to_thread(main, [*argv, "--token-file", str(token), *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _names(search_candidates) -> dict[str, str]:
    """code -> the model's name, as search_core named it (`<prefix>-<md5>`)."""
    return {c.code: c.summary.name for c in search_candidates}


def _verify_manifest(folder) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {entry["path"] for entry in manifest["files"]}
    on_disk = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p != folder / "manifest.json"
    }
    assert listed == on_disk
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["size_bytes"]
    return manifest


def _load_into_module(code: str, weights_file) -> torch.nn.Module:
    namespace: dict = {}
    exec(compile(code, "<exported>", "exec"), namespace)
    net = namespace["Net"]((1, 1, 28, 28), (10,), {"lr": 0.1}, "cpu")
    net.load_state_dict(torch.load(weights_file, weights_only=True))
    return net


async def test_nasforge_layout_one_verified_folder_per_model(search, tmp_path, capsys):
    names = _names(await search.clients["acme"].candidates(search.search_id))
    out_dir = tmp_path / "models"
    code, printed, _ = await _export(search, tmp_path, capsys, "--to", str(out_dir))
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(names[c] for c in BEST_FIRST)
    lines = [line for line in printed.splitlines() if line.startswith("Test-Template")]
    assert [line.split()[0] for line in lines] == [names[c] for c in BEST_FIRST]  # best first
    for source in BEST_FIRST:
        name = names[source]
        folder = out_dir / name
        assert name == model_name(prefix_of(name), source)  # named by the code's md5
        assert (folder / f"{name}.py").read_text() == source
        assert json.loads((folder / "hyperparameters.json").read_text()) == {"lr": 0.1}
        epochs = json.loads((folder / "epochs.json").read_text())
        assert [e["epoch"] for e in epochs] == [1, 2]
        assert all(e["validation_metric"] == pytest.approx(VALIDATION[source]) for e in epochs)
        record = json.loads((folder / "record.json").read_text())
        assert record["validation_score"] == pytest.approx(VALIDATION[source])
        assert record["provenance"]["code_sha256"] == hashlib.sha256(source.encode()).hexdigest()
        assert record["summary"]["outcome"] == "OUTCOME_SUCCESS"
        manifest = _verify_manifest(folder)
        (model,) = manifest["models"]
        if source == CODES[0]:  # the oldest: removed by the trainer's retention (2 kept)
            assert not (folder / "weights.pt").exists()
            assert model["weights"] == "absent"
            assert "removed by the trainer's retention setting" in model["reason"]
            assert f"{name}" in printed and "no weights (" in printed
        else:
            assert model == {"model": name, "weights": "present", "path": "weights.pt"}
            net = _load_into_module(source, folder / "weights.pt")
            assert net.body.weight.shape == (10, int(re.search(r"Linear\((\d+)", source)[1]))


async def test_best_n_is_by_validation_score(search, tmp_path, capsys):
    names = _names(await search.clients["acme"].candidates(search.search_id))
    code, _, _ = await _export(search, tmp_path, capsys, "--best", "2", "--to", str(tmp_path / "b"))
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(
        names[c] for c in BEST_FIRST[:2]
    )


async def test_lemur_layout(search, tmp_path, capsys):
    names = _names(await search.clients["acme"].candidates(search.search_id))
    out_dir = tmp_path / "lemur"
    code, _, _ = await _export(search, tmp_path, capsys, "--format", "lemur", "--to", str(out_dir))
    assert code == 0
    manifest = _verify_manifest(out_dir)
    for source in BEST_FIRST:
        name = names[source]
        assert (out_dir / "ab" / "nn" / "nn" / f"{name}.py").read_text() == source
        stat = out_dir / "ab" / "nn" / "stat" / f"img-classification_fashion-mnist_acc_{name}"
        assert sorted(p.name for p in stat.iterdir()) == ["1.json", "2.json"]
        for epoch in (1, 2):
            (trial,) = json.loads((stat / f"{epoch}.json").read_text())
            assert trial["accuracy"] == pytest.approx(VALIDATION[source])
            assert trial["epoch"] == epoch and trial["lr"] == pytest.approx(0.1)
            assert trial["transform"] == "norm_32" and trial["batch"] == 64
            assert re.fullmatch(r"[0-9a-f]{32}", trial["uid"])
        weights = out_dir / "nasforge" / name / "weights.pt"
        assert weights.exists() == (source != CODES[0])
        if weights.exists():
            _load_into_module(source, weights)
    absent = [m for m in manifest["models"] if m["weights"] == "absent"]
    assert [m["model"] for m in absent] == [names[CODES[0]]]


async def test_a_folder_in_use_and_another_tenants_search_are_refused(search, tmp_path, capsys):
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    code, _, error = await _export(search, tmp_path, capsys, "--to", str(used))
    assert code == 2 and (used / "keep.txt").read_text() == "mine"
    assert "is not an empty folder" in error
    theirs = tmp_path / "x"
    code, _, error = await _export(search, tmp_path, capsys, "--to", str(theirs), tenant="globex")
    assert code == 1 and "NOT_FOUND" in error and not theirs.exists()
