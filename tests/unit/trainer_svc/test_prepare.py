"""trainer_svc.prepare: a shared cache that replicas fill at once, never half-written."""

import hashlib
import io
import json
import multiprocessing
import os
import threading
from pathlib import Path

import pytest
import torch

import trainer_svc.prepare as prepare_module
from trainer_svc.prepare import PreparedData, Sizes, prepare

SIZES = Sizes(train=120, val=30, test=40, seed=3)


def _prepare(cache_root: Path) -> PreparedData:
    # fashion-mnist is read from FASHION_MNIST_DIR; data_root only matters for mnist
    # labels go beside the cache: tmp/prepared-labels
    return prepare("fashion-mnist", "norm_32", SIZES, cache_root / "prepared", Path("unused"))


def _assert_one_valid_copy(root: Path, prepared: PreparedData) -> None:
    for folder in ("prepared", "prepared-labels"):  # no staging folder left
        assert os.listdir(root / folder) == [prepared.directory.name]
    assert sorted(os.listdir(prepared.directory)) == ["data.pt", "meta.json"]
    data = torch.load(prepared.data_file, weights_only=True)
    assert data["images"]["train"].shape == (120, 1, 32, 32)
    assert data["images"]["test"].shape == (40, 1, 32, 32)
    assert set(data["targets"]) == {"train"}  # what the candidate's container sees
    labels = prepared.held_out_labels()
    assert labels["targets"]["test"].shape == (40,) and labels["targets"]["val"].shape == (30,)
    meta = json.loads((prepared.directory / "meta.json").read_text())
    assert meta["in_shape"] == [1, 32, 32] and meta["num_outputs"] == 10
    assert prepared.directory.stat().st_mode & 0o777 == 0o755  # the container user reads it
    assert prepared.data_file.stat().st_mode & 0o777 == 0o644


def test_prepare_builds_once_then_reads_the_cache(tmp_path, fashion_dir, monkeypatch):
    first = _prepare(tmp_path)
    _assert_one_valid_copy(tmp_path, first)
    monkeypatch.setattr(prepare_module, "_classification", pytest.fail)
    assert _prepare(tmp_path) == first


def test_a_failed_build_leaves_nothing_behind(tmp_path, fashion_dir, monkeypatch):
    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(prepare_module, "_classification", broken)
    with pytest.raises(OSError, match="disk full"):
        _prepare(tmp_path)
    assert os.listdir(tmp_path / "prepared") == os.listdir(tmp_path / "prepared-labels") == []


def test_a_concurrent_preparer_never_exposes_a_half_written_file(
    tmp_path, fashion_dir, monkeypatch
):
    """Two threads build one key at once; the second writes while the first is done.

    Half-way through the second writer's data.pt, the folder the first one returned must
    still hold a whole data.pt and its meta.json (with an in-place build, the second
    writer truncates the very file that training containers read).
    """
    real_save = torch.save
    both_building = threading.Barrier(2, timeout=60)
    first_done = threading.Event()
    results: dict[str, PreparedData] = {}
    seen_half_way: list[str] = []

    def save(obj, path):
        if Path(path).name != "data.pt":  # the labels' file: not the one under test
            return real_save(obj, path)
        both_building.wait()  # both passed the cache check before either wrote
        if threading.current_thread().name == "first":
            return real_save(obj, path)
        assert first_done.wait(60)
        buffer = io.BytesIO()
        real_save(obj, buffer)
        payload = buffer.getvalue()
        with open(path, "wb") as f:
            f.write(payload[: len(payload) // 2])
            f.flush()
            published = results["first"]
            try:
                torch.load(published.data_file, weights_only=True)
                json.loads((published.directory / "meta.json").read_text())
                seen_half_way.append("whole")
            except Exception as exc:  # any failure to read is the finding
                seen_half_way.append(f"broken: {exc!r}")
            f.write(payload[len(payload) // 2 :])

    def run(name: str) -> None:
        results[name] = _prepare(tmp_path)
        if name == "first":
            first_done.set()

    monkeypatch.setattr(torch, "save", save)
    threads = [
        threading.Thread(target=run, args=(name,), name=name) for name in ("first", "second")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert set(results) == {"first", "second"}, "a preparer failed"
    assert seen_half_way == ["whole"]
    assert results["first"] == results["second"]
    monkeypatch.setattr(torch, "save", real_save)
    _assert_one_valid_copy(tmp_path, results["first"])


def _prepare_in_process(cache_root: str, start) -> None:
    start.wait(60)
    _prepare(Path(cache_root))


def test_two_processes_preparing_one_key_end_with_one_valid_copy(tmp_path, fashion_dir):
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_prepare_in_process, args=(str(tmp_path), start)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    _assert_one_valid_copy(tmp_path, _prepare(tmp_path))


def test_a_half_written_folder_of_the_old_layout_is_replaced(tmp_path, fashion_dir):
    directory = _prepare(tmp_path).directory
    (directory / "meta.json").unlink()  # what an in-place build killed half-way left
    (directory / "data.pt").write_bytes(b"PK\x03\x04 truncated")
    _assert_one_valid_copy(tmp_path, _prepare(tmp_path))


def test_the_prepared_files_digest_is_computed_once_and_kept(tmp_path, fashion_dir, monkeypatch):
    first = _prepare(tmp_path)
    files = [first.data_file, first.directory / "meta.json", first.labels_file]
    each = [[path.name, hashlib.sha256(path.read_bytes()).hexdigest()] for path in files]
    expected = "sha256:" + hashlib.sha256(json.dumps(each).encode()).hexdigest()
    assert first.digest == expected
    assert (first.labels_directory / prepare_module.DIGEST_FILE).read_text() == expected
    monkeypatch.setattr(prepare_module, "file_sha256", pytest.fail)  # not hashed again
    assert _prepare(tmp_path).digest == expected
    monkeypatch.undo()
    other = prepare(
        "fashion-mnist", "norm_32", Sizes(120, 30, 41, 3), tmp_path / "prepared", Path("x")
    )
    assert other.digest.startswith("sha256:") and other.digest != expected
