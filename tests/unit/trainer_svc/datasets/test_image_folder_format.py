"""image-folder: torchvision's ImageFolder layout, one folder per class per split."""

import numpy as np
import pytest
from PIL import Image

from tests.unit.trainer_svc.conftest import foolbox_images
from trainer_svc.data.cifar import CIFAR10_CLASSES
from trainer_svc.datasets.contents import DatasetError, labels_of
from trainer_svc.datasets.formats import open_dataset
from trainer_svc.datasets.formats.image_folder import LISTING


def _write(root, split, pixels, labels, classes, ext="png"):
    for i, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        folder = root / split / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}.{ext}")


@pytest.fixture
def cifar(foolbox_data):
    """foolbox's 20 real CIFAR-10 images, kept to the classes that have 2 or more."""
    images, labels = foolbox_images(foolbox_data, "cifar10")
    keep = [i for i, label in enumerate(labels) if labels.count(label) >= 2]
    return images[keep], [labels[i] for i in keep]


def test_classes_labels_and_pixels(tmp_path, cifar):
    images, labels = cifar
    _write(tmp_path, "train", images, labels, CIFAR10_CLASSES)
    _write(tmp_path, "test", images[::-1], labels[::-1], CIFAR10_CLASSES)
    contents = open_dataset("image-folder", tmp_path)
    classes = sorted({CIFAR10_CLASSES[label] for label in labels})
    assert contents.classes == tuple(classes) and contents.channels == 3
    assert contents.native_size == (32, 32) and list(contents.files) == [LISTING]
    assert contents.counts() == {"train": len(images), "test": len(images)}
    # ImageFolder's order: by class name, then by file name (here the image's index).
    order = sorted(range(len(images)), key=lambda i: (CIFAR10_CLASSES[labels[i]], i))
    train = contents.splits["train"]
    assert list(labels_of(train)) == [classes.index(CIFAR10_CLASSES[labels[i]]) for i in order]
    got = np.stack([np.asarray(train.image(k)) for k in range(len(train))])
    assert np.array_equal(got, images[order])  # PNG: lossless


def test_val_stands_in_for_test_and_sizes_may_differ(tmp_path, cifar):
    images, labels = cifar
    _write(tmp_path, "train", images, labels, CIFAR10_CLASSES)
    _write(tmp_path, "val", images, labels, CIFAR10_CLASSES, ext="jpg")
    big = tmp_path / "val" / CIFAR10_CLASSES[labels[0]] / "big.jpg"
    Image.fromarray(images[0]).resize((40, 30)).save(big)
    contents = open_dataset("image-folder", tmp_path)
    assert contents.native_size is None
    assert any("val/ is the test split" in n for n in contents.notes)


def test_grey_images_give_one_channel(tmp_path, foolbox_data):
    files = sorted(foolbox_data.glob("fashionMNIST_*.png"))[:8]
    for split in ("train", "test"):
        for i, f in enumerate(files):
            folder = tmp_path / split / ("odd" if i % 2 else "even")
            folder.mkdir(parents=True, exist_ok=True)
            Image.open(f).convert("L").save(folder / f.name)
    contents = open_dataset("image-folder", tmp_path)
    assert contents.channels == 1 and contents.native_size == (28, 28)
    assert contents.splits["test"].image(0).mode == "L"
    # One colour image makes the whole dataset RGB.
    Image.open(files[0]).convert("RGB").save(tmp_path / "train" / "odd" / "colour.png")
    contents = open_dataset("image-folder", tmp_path)
    assert contents.channels == 3 and contents.splits["test"].image(0).mode == "RGB"


def test_one_class_is_refused_with_its_name(tmp_path, cifar):
    images, _ = cifar
    _write(tmp_path, "train", images[:3], [3, 3, 3], CIFAR10_CLASSES)
    _write(tmp_path, "test", images[:3], [3, 3, 3], CIFAR10_CLASSES)
    with pytest.raises(
        DatasetError,
        match=r"a classification dataset needs at least 2 classes; .*train has one: 'cat'",
    ):
        open_dataset("image-folder", tmp_path)


def test_splits_must_share_classes_and_hold_images(tmp_path, cifar):
    images, _ = cifar
    _write(tmp_path, "train", images[:4], [3, 3, 5, 5], CIFAR10_CLASSES)
    _write(tmp_path, "test", images[:4], [3, 3, 4, 4], CIFAR10_CLASSES)
    with pytest.raises(DatasetError, match=r"both splits need the same class folders"):
        open_dataset("image-folder", tmp_path)
    (tmp_path / "test" / "deer" / "002.png").rename(tmp_path / "test" / "deer" / "x.txt")
    (tmp_path / "test" / "deer" / "003.png").unlink()
    (tmp_path / "test" / "deer").rename(tmp_path / "test" / "dog")
    with pytest.raises(DatasetError, match=r"Found no valid file for the classes dog"):
        open_dataset("image-folder", tmp_path)


def test_a_file_that_is_no_image_and_a_missing_test_folder_are_named(tmp_path, cifar):
    images, _ = cifar
    _write(tmp_path, "train", images[:4], [3, 3, 5, 5], CIFAR10_CLASSES)
    with pytest.raises(DatasetError, match=r"test is missing"):
        open_dataset("image-folder", tmp_path)
    _write(tmp_path, "test", images[:4], [3, 3, 5, 5], CIFAR10_CLASSES)
    (tmp_path / "test" / "cat" / "000.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"000.png is not a readable image"):
        open_dataset("image-folder", tmp_path)


def test_the_listing_digest_changes_when_an_image_is_added_or_rewritten(tmp_path, cifar):
    images, labels = cifar
    _write(tmp_path, "train", images, labels, CIFAR10_CLASSES)
    _write(tmp_path, "test", images, labels, CIFAR10_CLASSES)
    before = open_dataset("image-folder", tmp_path).files[LISTING]
    assert open_dataset("image-folder", tmp_path).files[LISTING] == before
    first = sorted((tmp_path / "train").rglob("*.png"))[0]
    Image.open(first).rotate(90).save(first)
    assert open_dataset("image-folder", tmp_path).files[LISTING] != before
