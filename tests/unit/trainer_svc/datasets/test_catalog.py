"""Registering datasets: verified, prepared once, recorded last; nothing half registered."""

import json

import pytest
import torch
from PIL import Image

import trainer_svc.datasets.catalog as catalog_module
from tests.support.dataset_files import cifar10_sample, foolbox_images
from tests.unit.trainer_svc.conftest import foolbox_images as foolbox_images_at
from tests.unit.trainer_svc.datasets.published import (
    coco_captions_json,
    imagenet16_batch,
    sixteen,
    write_jpegs,
)
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


def _imagenet16(root, foolbox_data):
    images, labels = foolbox_images_at(foolbox_data, "cifar10")
    folder = root / "ImageNet16"
    folder.mkdir(parents=True)
    small = sixteen(images)
    for k in range(1, 11):  # two images a batch; the labels 1..10 fall in ImageNet16-120
        part = slice(2 * (k - 1), 2 * k)
        (folder / f"train_data_batch_{k}").write_bytes(
            imagenet16_batch(small[part], [label + 1 for label in labels[part]])
        )
    (folder / "val_data").write_bytes(imagenet16_batch(small[:6], [x + 1 for x in labels[:6]]))
    return folder


def _image_folder(root, foolbox_data):
    images, labels = foolbox_images_at(foolbox_data, "cifar10")
    for split, part in (("train", slice(0, 14)), ("test", slice(14, 20))):
        for k in range(part.start, part.stop):
            folder = root / split / ("even" if labels[k] % 2 == 0 else "odd")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[k]).save(folder / f"{k:02d}.png")
    return root


def _coco_format(root, foolbox_data):
    images, labels = foolbox_images_at(foolbox_data, "cifar10")
    names = [f"{k:03d}.jpg" for k in range(20)]
    write_jpegs(root / "images", images, names)
    captions = {k + 1: [f"a photo of class {labels[k]}", "a small photo"] for k in range(20)}
    coco_captions_json(root / "captions_train.json", list(range(1, 15)), names[:14], captions, 1)
    coco_captions_json(root / "captions_test.json", list(range(15, 21)), names[14:], captions, 100)
    return root


@pytest.mark.parametrize(
    ("format_name", "build", "in_shape", "outputs"),
    [
        ("imagenet16", _imagenet16, [3, 32, 32], 120),
        ("image-folder", _image_folder, [3, 32, 32], 2),
        ("coco-format", _coco_format, [3, 64, 64], None),
    ],
)
def test_every_format_registers_and_prepares(
    settings, tmp_path, foolbox_data, format_name, build, in_shape, outputs
):
    path = build(tmp_path / "files", foolbox_data)
    record = DatasetCatalog(settings).add("mine", format_name, str(path))
    [folder] = settings.cache_root.iterdir()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["in_shape"] == in_shape and record.counts["test"] == 6
    assert record.outputs == meta["num_outputs"] == (outputs or len(meta["itos"]))
