"""trainer_svc.data.transforms: LEMUR's transform names."""

import numpy as np
import pytest
import torch
from PIL import Image

from trainer_svc.data.transforms import (
    CIFAR10_NORM,
    IMAGENET_NORM,
    get_transform,
    known_transforms,
)


@pytest.fixture
def image():
    """A real-looking non-square RGB image: a left-to-right gradient."""
    row = np.linspace(0, 255, 48, dtype=np.uint8)
    return Image.fromarray(np.stack([np.tile(row, (40, 1))] * 3, axis=2))


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("echo", (3, 40, 48)),
        ("norm", (3, 40, 48)),
        ("echo_32", (3, 32, 32)),
        ("norm_32", (3, 32, 32)),
        ("norm_32_flip", (3, 32, 32)),
        ("norm_64", (3, 64, 64)),
        ("norm_256_flip", (3, 256, 256)),
        ("echo_299", (3, 299, 299)),
    ],
)
def test_names_give_their_size(name, shape, image):
    assert get_transform(name)(image).shape == shape


def test_every_known_name_runs(image):
    names = known_transforms()
    assert {"echo", "norm_32", "norm_32_flip", "norm_64", "norm_256_flip"} <= set(names)
    for name in names:
        out = get_transform(name, train=False)(image)
        assert out.dtype == torch.float32 and out.shape[0] == 3, name


def test_norm_normalises_and_echo_does_not(image):
    echo = get_transform("echo")(image)
    assert 0.0 <= echo.min() and echo.max() <= 1.0
    norm = get_transform("norm", CIFAR10_NORM)(image)
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in CIFAR10_NORM)
    assert torch.allclose(norm, (echo - mean) / std, atol=1e-6)


def test_flip_is_random_in_training_and_absent_in_evaluation(image):
    torch.manual_seed(0)
    train = get_transform("echo_flip")
    flipped = [bool(train(image)[0, 0, 0] > 0.5) for _ in range(40)]
    assert any(flipped) and not all(flipped)  # the gradient runs left to right
    evaluation = get_transform("echo_flip", train=False)
    assert all(evaluation(image)[0, 0, 0] < 0.5 for _ in range(10))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown transform 'norm_33'.*norm_32_flip"):
        get_transform("norm_33")


def test_imagenet_norm_is_the_default(image):
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in IMAGENET_NORM)
    # norm_32 centre-crops where echo_32 squeezes; compare on a square image.
    square = image.resize((48, 48))
    expected = (get_transform("echo_32")(square) - mean) / std
    assert torch.allclose(get_transform("norm_32")(square), expected, atol=1e-5)
