"""trainer_svc.weights_store: kept weights with their sha256, bounded by retention (oldest
first, never the newest), read back in chunks; job ids that are not ids reach no path."""

import hashlib
import io
import os

import pytest
import torch

from trainer_svc.config import TrainerSettings
from trainer_svc.weights_store import CHUNK_BYTES, WeightsNotFound, WeightsStore


def state_dict_bytes(width: int) -> bytes:
    """A real state_dict as torch.save writes it (the trainer keeps the harness's file)."""
    buffer = io.BytesIO()
    torch.save(torch.nn.Linear(width, 10).state_dict(), buffer)
    return buffer.getvalue()


def _keep_in_order(store: WeightsStore, jobs: list[str], width: int = 64) -> None:
    """Keep each job's weights with increasing modification times (oldest first)."""
    for age, job in enumerate(jobs):
        store.keep(job, state_dict_bytes(width), tenant="acme")
        os.utime(store.root / f"{job}.pt", ns=(10**18 + age, 10**18 + age))


def test_kept_weights_have_their_sha256_and_size_and_load(tmp_path):
    store = WeightsStore(tmp_path, retention_bytes=None, retention_count=None)
    data = state_dict_bytes(32)
    kept = store.keep("a" * 32, data, tenant="acme")
    assert kept.sha256 == hashlib.sha256(data).hexdigest() and kept.size_bytes == len(data)
    found = store.find("a" * 32, tenant="acme")
    assert found == kept
    read = b"".join(store.chunks(found))
    assert read == data
    weights = torch.load(io.BytesIO(read), weights_only=True)
    assert weights["weight"].shape == (10, 32)


def test_a_large_file_is_read_in_one_mebibyte_chunks(tmp_path):
    store = WeightsStore(tmp_path, retention_bytes=None, retention_count=None)
    data = os.urandom(2 * CHUNK_BYTES + 17)
    kept = store.keep("big", data, tenant="acme")
    assert [len(chunk) for chunk in store.chunks(kept)] == [CHUNK_BYTES, CHUNK_BYTES, 17]


def test_retention_by_count_removes_the_oldest_and_says_so(tmp_path):
    store = WeightsStore(tmp_path, retention_bytes=None, retention_count=2)
    _keep_in_order(store, ["j1", "j2"])
    store.keep("j3", state_dict_bytes(64), tenant="acme")
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["j2.pt", "j3.pt"]
    with pytest.raises(WeightsNotFound, match="removed by the trainer's retention setting"):
        store.find("j1", tenant="acme")
    with pytest.raises(WeightsNotFound, match="weights_retention_count=2"):
        store.find("j1", tenant="acme")
    assert store.find("j2", tenant="acme").job_id == "j2"


def test_retention_by_bytes_keeps_the_newest_even_when_it_alone_is_over(tmp_path):
    size = len(state_dict_bytes(64))
    store = WeightsStore(tmp_path, retention_bytes=2 * size, retention_count=None)
    _keep_in_order(store, ["j1", "j2"])
    store.keep("j3", state_dict_bytes(64), tenant="acme")
    assert sorted(p.stem for p in tmp_path.glob("*.pt")) == ["j2", "j3"]
    store.keep("huge", os.urandom(3 * size), tenant="acme")  # over the bound by itself
    assert [p.stem for p in tmp_path.glob("*.pt")] == ["huge"]


def test_the_file_just_written_is_kept_even_when_it_is_the_oldest(tmp_path):
    unbounded = WeightsStore(tmp_path, retention_bytes=None, retention_count=None)
    unbounded.keep("old", state_dict_bytes(8), tenant="acme")
    unbounded.keep("new", state_dict_bytes(8), tenant="acme")
    os.utime(tmp_path / "new.pt", ns=(1, 1))  # a clock set back: "new" looks the oldest
    bounded = WeightsStore(tmp_path, retention_bytes=None, retention_count=1)
    assert bounded.enforce_retention(keep="new") == ["old"]
    assert [p.stem for p in tmp_path.glob("*.pt")] == ["new"]


def test_another_tenants_job_and_an_unknown_job_read_as_never_kept(tmp_path):
    store = WeightsStore(tmp_path, retention_bytes=None, retention_count=None)
    store.keep("j1", state_dict_bytes(8), tenant="acme")
    for job, tenant in (("j1", "globex"), ("j2", "acme")):
        with pytest.raises(WeightsNotFound, match=f"kept no weights for job {job}$"):
            store.find(job, tenant=tenant)


@pytest.mark.parametrize("job_id", ["../etc/passwd", "a/b", "..", "x.pt", "", "j" * 65, "a\x00"])
def test_job_ids_that_are_not_ids_reach_no_path(tmp_path, job_id):
    (tmp_path / "etc").mkdir()
    store = WeightsStore(tmp_path / "weights", retention_bytes=None, retention_count=None)
    with pytest.raises(WeightsNotFound, match="is not a job id"):
        store.find(job_id, tenant="acme")
    with pytest.raises(WeightsNotFound, match="is not a job id"):
        store.keep(job_id, b"x", tenant="acme")
    assert not (tmp_path / "weights").exists()


def test_retention_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("NASFORGE_TRAINER_WEIGHTS_RETENTION_COUNT", "5")
    monkeypatch.setenv("NASFORGE_TRAINER_WEIGHTS_RETENTION_BYTES", "")
    settings = TrainerSettings()
    assert settings.weights_retention_count == 5 and settings.weights_retention_bytes is None
    monkeypatch.setenv("NASFORGE_TRAINER_WEIGHTS_RETENTION_COUNT", "0")
    with pytest.raises(ValueError, match="weights_retention_count"):
        TrainerSettings()
