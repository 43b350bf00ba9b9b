"""trainer_svc.data.cifar: the standard pickle layout, built from foolbox's real CIFAR images."""

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tests.unit.trainer_svc.conftest import foolbox_images
from trainer_svc.data.cifar import (
    CIFAR10_CLASSES,
    CIFAR10_TRAIN,
    CifarDataset,
    load_batch,
    write_cifar,
)
from trainer_svc.data.transforms import CIFAR10_NORM, get_transform

# CIFAR-100's fine label names, in label order (as in the archive's `meta`).
CIFAR100_CLASSES = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy
bridge bus butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach
couch crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo
keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse
mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy
porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail
snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger
tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory, foolbox_data):
    """Both layouts in one folder: 15 train and 5 test images of each, all real."""
    root = tmp_path_factory.mktemp("cifar")
    for kind, prefix, classes in (
        ("cifar10", "cifar10", CIFAR10_CLASSES),
        ("cifar100", "cifar100", CIFAR100_CLASSES),
    ):
        images, labels = foolbox_images(foolbox_data, prefix)
        assert images.shape == (20, 32, 32, 3)
        write_cifar(root, kind, (images[:15], labels[:15]), (images[15:], labels[15:]), classes)
    return root


@pytest.mark.parametrize("kind", ["cifar10", "cifar100"])
def test_layout_round_trips_pixels_and_labels(cifar_root, foolbox_data, kind):
    images, labels = foolbox_images(foolbox_data, kind)
    train = CifarDataset(cifar_root, kind, train=True)
    test = CifarDataset(cifar_root, kind, train=False)
    assert len(train) == 15 and len(test) == 5
    assert np.array_equal(train.images, images[:15]) and np.array_equal(test.images, images[15:])
    assert train.labels.tolist() == labels[:15] and test.labels.tolist() == labels[15:]
    image, label = test[0]
    assert image.shape == (3, 32, 32) and label == labels[15]
    assert torch.allclose(image * 255, torch.from_numpy(images[15]).permute(2, 0, 1).float())


def test_files_are_the_standard_ones(cifar_root):
    cifar10 = cifar_root / "cifar-10-batches-py"
    assert {p.name for p in cifar10.iterdir()} == {*CIFAR10_TRAIN, "test_batch", "batches.meta"}
    assert {p.name for p in (cifar_root / "cifar-100-python").iterdir()} == {
        "train",
        "test",
        "meta",
    }
    batch = load_batch(cifar10 / "data_batch_1")
    assert batch["data"].shape == (3, 3072) and batch["data"].dtype == np.uint8
    assert set(batch) == {"batch_label", "labels", "data", "filenames"}


def test_class_names_come_from_meta(cifar_root):
    assert CifarDataset(cifar_root, "cifar10").classes == CIFAR10_CLASSES
    cifar100 = CifarDataset(cifar_root, "cifar100", train=False)
    assert len(cifar100.classes) == 100
    # foolbox's first CIFAR-100 test image is a mountain (label 49).
    assert CifarDataset(cifar_root, "cifar100").classes[49] == "mountain"


def test_root_may_be_the_batch_folder_itself(cifar_root):
    direct = CifarDataset(cifar_root / "cifar-10-batches-py", "cifar10", train=False)
    assert len(direct) == 5


def test_a_dataloader_gives_normalised_batches(cifar_root):
    data = CifarDataset(cifar_root, "cifar10", transform=get_transform("norm_64", CIFAR10_NORM))
    images, labels = next(iter(DataLoader(data, batch_size=4)))
    assert images.shape == (4, 3, 64, 64) and labels.dtype == torch.int64


def test_absent_coarse_labels_are_an_error_not_an_invention(cifar_root):
    with pytest.raises(KeyError, match="coarse_labels"):
        CifarDataset(cifar_root, "cifar100", label_key="coarse_labels")


def test_unknown_kind_is_refused(cifar_root):
    with pytest.raises(ValueError, match="cifar10, cifar100"):
        CifarDataset(cifar_root, "cifar1000")


class _Boom:
    def __reduce__(self):
        return (print, ("a dataset file must not run code",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": _Boom(), "labels": [0]}))
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.print"):
        load_batch(path)


def test_a_protocol_2_batch_with_bytes_keys_loads_like_the_real_archive(tmp_path, foolbox_data):
    # The real archive was pickled by Python 2 (protocol 2, byte-string keys).
    images, labels = foolbox_images(foolbox_data, "cifar10")
    data = images.transpose(0, 3, 1, 2).reshape(20, -1)
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=2))
    batch = load_batch(path)
    assert np.array_equal(batch["data"], data) and batch["labels"] == labels
