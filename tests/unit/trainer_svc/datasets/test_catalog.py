"""Registering datasets: verified, prepared once, recorded last; nothing half registered."""

import json

import pytest
import torch

import trainer_svc.datasets.catalog as catalog_module
from tests.support.dataset_files import cifar10_sample, foolbox_images
from trainer_svc.config import TrainerSettings
from trainer_svc.datasets.catalog import DatasetCatalog, default_sizes
from trainer_svc.datasets.contents import DatasetError
from trainer_svc.prepare import Sizes, prepare


@pytest.fixture
def settings(tmp_path):
    return TrainerSettings(
        cache_root=tmp_path / "prepared",
        registry_root=tmp_path / "registry",
        data_root=tmp_path / "var",
        train_samples=100,
        validation_samples=3,
        test_samples=50,
    )


@pytest.fixture
def cifar(tmp_path):
    return cifar10_sample(tmp_path / "files", n_train=14)


def test_a_registered_dataset_is_verified_prepared_and_listed(settings, cifar):
    catalog = DatasetCatalog(settings)
    record = catalog.add("cifar-mini", "cifar10", str(cifar))
    assert record.counts == {"train": 14, "test": 6} and record.outputs == 10
    assert record.channels == 3 and record.native_size == (32, 32)
    assert set(record.files) >= {"data_batch_1", "test_batch", "batches.meta"}
    assert catalog.get("cifar-mini") == record
    assert [r.name for r in catalog.list()][-1] == "cifar-mini"
    # Prepared once, at the defaults cut to the data: a fifth of 14 held out for validation
    # (under the default 3), the other 12 trained on, all 6 tests.
    assert default_sizes(record, settings) == Sizes(12, 2, 6)
    folders = list(settings.cache_root.iterdir())
    assert [f.name.split("-")[:2] for f in folders] == [["cifar", "mini"]]
    data = torch.load(folders[0] / "data.pt", weights_only=True)
    assert data["images"]["train"].shape == (12, 3, 32, 32)
    # The pixels are foolbox's, through the pickle layout and back: the test images are
    # the last six, in order (norm_32 on a 32x32 image changes nothing).
    images, _ = foolbox_images("cifar10")
    assert torch.equal(data["images"]["test"], torch.from_numpy(images[14:]).permute(0, 3, 1, 2))
    held_out = json.loads((folders[0] / "meta.json").read_text())
    assert held_out["num_outputs"] == 10 and held_out["in_shape"] == [3, 32, 32]


def test_names_that_are_taken_or_malformed_are_refused(settings, cifar):
    catalog = DatasetCatalog(settings)
    catalog.add("cifar-mini", "cifar10", str(cifar))
    with pytest.raises(DatasetError, match="registered already"):
        catalog.add("cifar-mini", "cifar10", str(cifar))
    assert catalog.add("cifar-mini", "cifar10", str(cifar), again=True).name == "cifar-mini"
    with pytest.raises(DatasetError, match="built-in"):
        catalog.add("fashion-mnist", "cifar10", str(cifar))
    for bad in ("CIFAR", "../x", "a b", ""):
        with pytest.raises(DatasetError, match="must be"):
            catalog.add(bad, "cifar10", str(cifar))
    with pytest.raises(DatasetError, match=r"unknown dataset 'nope'.*cifar-mini"):
        catalog.get("nope")


def test_a_failed_preparation_registers_nothing(settings, cifar, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(catalog_module, "prepare", disk_full)
    with pytest.raises(OSError, match="disk full"):
        DatasetCatalog(settings).add("cifar-mini", "cifar10", str(cifar))
    assert not (settings.registry_root / "cifar-mini.json").exists()
    with pytest.raises(DatasetError, match="unknown dataset"):
        DatasetCatalog(settings).get("cifar-mini")


def test_files_changed_after_registration_are_not_trained_on(settings, cifar):
    record = DatasetCatalog(settings).add("cifar-mini", "cifar10", str(cifar))
    batch = cifar / "data_batch_2"
    content = bytearray(batch.read_bytes())
    content[-40] ^= 0xFF  # one pixel of the pickled array
    batch.write_bytes(bytes(content))
    with pytest.raises(DatasetError, match="changed since they were registered"):
        prepare(record, "norm_32", Sizes(5, 2, 3), settings.cache_root, settings.data_root)


def test_a_deployment_reads_datasets_only_below_its_sources_folder(settings, cifar, tmp_path):
    confined = settings.model_copy(update={"dataset_sources": tmp_path / "allowed"})
    (tmp_path / "allowed").mkdir()
    with pytest.raises(DatasetError, match="outside"):
        DatasetCatalog(confined).add("cifar-mini", "cifar10", str(cifar))
    with pytest.raises(DatasetError, match="does not exist"):
        DatasetCatalog(settings).add("cifar-mini", "cifar10", str(tmp_path / "absent"))
