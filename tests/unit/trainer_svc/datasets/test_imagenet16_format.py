"""imagenet16: NAS-Bench-201's ImageNet16 batches, kept to its first 120 classes."""

import shutil

import numpy as np
import pytest

from tests.unit.trainer_svc.conftest import foolbox_images
from tests.unit.trainer_svc.datasets import published
from trainer_svc.datasets.contents import DatasetError, labels_of
from trainer_svc.datasets.formats import download, open_dataset
from trainer_svc.datasets.formats.imagenet16 import TEST_FILES, TRAIN_FILES


@pytest.fixture(scope="module")
def imagenet16(tmp_path_factory, foolbox_data):
    """The ImageNet16 folder: 3 real 16x16 images per train file, 10 in val_data; labels
    within and beyond 1..120."""
    cifar10, _ = foolbox_images(foolbox_data, "cifar10")
    cifar100, _ = foolbox_images(foolbox_data, "cifar100")
    pixels = published.sixteen(np.concatenate([cifar10, cifar100]))  # 40 images
    labels = [1 + (37 * i) % 200 for i in range(40)]  # 1..200: some kept, some dropped
    root = tmp_path_factory.mktemp("imagenet16")
    folder = root / "ImageNet16"
    folder.mkdir()
    parts = [slice(3 * n, 3 * n + 3) for n in range(10)] + [slice(30, 40)]
    for name, part in zip([*TRAIN_FILES, *TEST_FILES], parts, strict=True):
        raw = published.imagenet16_batch(pixels[part], labels[part])
        (folder / name).write_bytes(raw)
    return root, pixels, labels


def _expected(pixels, labels, start, stop):
    kept = [i for i in range(start, stop) if labels[i] <= 120]
    return pixels[kept], [labels[i] - 1 for i in kept]


@pytest.mark.parametrize("inside", [False, True])
def test_the_first_120_classes_round_trip_relabelled(imagenet16, inside):
    root, pixels, labels = imagenet16
    contents = open_dataset("imagenet16", root / "ImageNet16" if inside else root)
    train_pixels, train_labels = _expected(pixels, labels, 0, 30)
    test_pixels, test_labels = _expected(pixels, labels, 30, 40)
    train, test = contents.splits["train"], contents.splits["test"]
    assert contents.counts() == {"train": len(train_labels), "test": len(test_labels)}
    assert (
        0 < len(train_labels) < 30 and 0 < len(test_labels) < 10
    )  # the miniature drops some images, as the real one does
    assert list(labels_of(train)) == train_labels and list(labels_of(test)) == test_labels
    got = np.stack([np.asarray(train.image(i)) for i in range(len(train))])
    assert np.array_equal(got, train_pixels)
    assert np.array_equal(
        np.stack([np.asarray(test.image(i)) for i in range(len(test))]), test_pixels
    )
    assert contents.native_size == (16, 16) and contents.channels == 3
    assert len(contents.classes) == 120 and contents.classes[0] == "class_001"
    assert any("val_data is the test split" in note for note in contents.notes)


def test_files_and_published_verdicts(imagenet16):
    root, _, _ = imagenet16
    contents = open_dataset("imagenet16", root)
    assert set(contents.files) == {f"ImageNet16/{n}" for n in [*TRAIN_FILES, *TEST_FILES]}
    assert contents.published["ImageNet16/val_data"].startswith(
        "differs from the published md5: 3410e3017fdaefba8d5073aaa65e4bd6"
    )


@pytest.fixture
def copy(imagenet16, tmp_path):
    return shutil.copytree(imagenet16[0] / "ImageNet16", tmp_path / "ImageNet16")


def test_a_truncated_batch_and_a_missing_one_are_named(copy):
    batch = copy / "train_data_batch_7"
    batch.write_bytes(batch.read_bytes()[:300])
    with pytest.raises(DatasetError, match="train_data_batch_7 is truncated or not a down"):
        open_dataset("imagenet16", copy)
    batch.unlink()
    with pytest.raises(DatasetError, match="train_data_batch_7 is missing"):
        open_dataset("imagenet16", copy)


def test_labels_outside_imagenet_and_32px_data_are_named(copy):
    pixels = np.zeros((2, 16, 16, 3), np.uint8)
    (copy / "val_data").write_bytes(published.imagenet16_batch(pixels, [1, 1001]))
    with pytest.raises(DatasetError, match=r"val_data: label 1001 is outside 1..1000"):
        open_dataset("imagenet16", copy)
    (copy / "val_data").write_bytes(
        published.imagenet16_batch(np.zeros((2, 32, 32, 3), np.uint8), [1, 2])
    )
    with pytest.raises(DatasetError, match=r"val_data: 'data' is \(2, 3072\) uint8, expected"):
        open_dataset("imagenet16", copy)


def test_download_says_where_imagenet16_comes_from(tmp_path):
    with pytest.raises(DatasetError, match=r"NAS-Bench-201.s ImageNet16.*--format imagenet16"):
        download("imagenet16", tmp_path)
