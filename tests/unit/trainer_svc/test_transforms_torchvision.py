"""trainer_svc's transforms give exactly torchvision's tensors, and the service never imports it.

torchvision is a dev-only dependency here: these tests keep the reference implementation
(the torchvision pipelines trainer_svc used before) and compare bit for bit. Both sides
resize with the same PIL call and convert with the same torch ops, so the tensors are
equal, not merely close.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from trainer_svc.data.transforms import (
    CIFAR10_NORM,
    IMAGENET_NORM,
    MNIST_NORM,
    get_transform,
    known_transforms,
    resize_to_uint8,
    transform_spec,
)
from trainer_svc.datasets.formats.splits import ArraySplit
from trainer_svc.prepare import _images

# (width, height): square, landscape, portrait, odd sides, smaller than every target size,
# and sizes whose centre crop lands on a .5 (rounded half to even by torchvision).
SIZES = [(28, 28), (48, 40), (23, 37), (31, 29), (5, 3), (33, 64), (301, 200)]
NAMES = [
    "echo",
    "norm",
    "echo_32",
    "norm_32",
    "norm_32_flip",
    "echo_64_flip",
    "norm_64",
    "norm_128",
    "echo_160",
    "norm_224",
    "norm_299_flip",
]


def _reference_geometry(name: str) -> list:
    spec = transform_spec(name)
    if spec.size is not None and spec.normalize:
        return [T.Resize(spec.size), T.CenterCrop(spec.size)]
    if spec.size is not None:
        return [T.Resize((spec.size, spec.size))]
    return []


def _reference(name: str, norm, train: bool) -> T.Compose:
    """The torchvision pipeline get_transform built before it lost torchvision."""
    spec = transform_spec(name)
    steps = _reference_geometry(name)
    if spec.flip and train:
        steps.append(T.RandomHorizontalFlip())
    steps.append(T.ToTensor())
    if spec.normalize:
        steps.append(T.Normalize(*norm))
    return T.Compose(steps)


def _image(width: int, height: int, mode: str, seed: int) -> Image.Image:
    """Noise plus a diagonal ramp: every resize and crop offset shows in the pixels."""
    rng = np.random.default_rng(seed)
    ramp = (np.add.outer(np.arange(height) * 3, np.arange(width) * 5) % 256).astype(np.int64)
    noise = rng.integers(0, 64, size=(height, width, 3))
    pixels = ((ramp[..., None] + noise) % 256).astype(np.uint8)
    if mode == "L":
        return Image.fromarray(pixels[..., 0])
    return Image.fromarray(pixels)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("mode", "norm"), [("RGB", CIFAR10_NORM), ("L", MNIST_NORM)])
def test_evaluation_transform_equals_torchvision(name, mode, norm):
    for k, (width, height) in enumerate(SIZES):
        image = _image(width, height, mode, k)
        ours = get_transform(name, norm, train=False)(image)
        theirs = _reference(name, norm, train=False)(image)
        assert ours.dtype == theirs.dtype == torch.float32
        assert ours.shape == theirs.shape, (name, mode, width, height)
        assert torch.equal(ours, theirs), (name, mode, width, height)


@pytest.mark.parametrize("name", ["echo_flip", "norm_32_flip", "echo_64_flip"])
def test_training_flips_equal_torchvision_under_the_same_seed(name):
    """The flip draws torch.rand(1) as torchvision does: same seed, same flips, same tensors."""
    image = _image(41, 30, "RGB", 3)
    flipped = []
    for seed in range(12):
        torch.manual_seed(seed)
        ours = get_transform(name, IMAGENET_NORM, train=True)(image)
        torch.manual_seed(seed)
        theirs = _reference(name, IMAGENET_NORM, train=True)(image)
        assert torch.equal(ours, theirs), (name, seed)
        flipped.append(not torch.equal(ours, get_transform(name, train=False)(image)))
    assert any(flipped) and not all(flipped)


@pytest.mark.parametrize("mode", ["1", "P", "RGBA", "I", "F"])
def test_other_pil_modes_convert_as_torchvision_does(mode):
    image = _image(19, 13, "RGB", 5).convert(mode)
    assert torch.equal(get_transform("echo")(image), T.ToTensor()(image)), mode


@pytest.mark.parametrize("name", NAMES)
def test_uint8_resizing_equals_torchvision(name):
    """What prepare stores: geometry + PILToTensor, for RGB and grayscale."""
    reference = T.Compose([*_reference_geometry(name), T.PILToTensor()])
    for k, (width, height) in enumerate(SIZES):
        for mode in ("RGB", "L"):
            image = _image(width, height, mode, k)
            ours = resize_to_uint8(name)(image)
            theirs = reference(image)
            assert ours.dtype == theirs.dtype == torch.uint8
            assert torch.equal(ours, theirs), (name, mode, width, height)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_prepare_resize_of_a_batch_equals_torchvision(mode):
    images = np.stack([np.asarray(_image(37, 23, mode, k)) for k in range(4)])
    reference = T.Compose([*_reference_geometry("norm_32"), T.PILToTensor()])
    expected = torch.stack([reference(Image.fromarray(image)) for image in images])
    split = ArraySplit(images, np.zeros(len(images), dtype=np.int64))
    assert torch.equal(_images(split, range(4), "norm_32", mode), expected)


def test_every_known_name_matches_on_one_odd_image():
    image = _image(45, 27, "RGB", 9)
    for name in known_transforms():
        ours = get_transform(name, train=False)(image)
        assert torch.equal(ours, _reference(name, IMAGENET_NORM, train=False)(image)), name


def test_the_service_does_not_import_torchvision():
    """The trainer image has no torchvision: importing the service must not need it."""
    code = (
        "import sys\n"
        "import trainer_svc.prepare, trainer_svc.core, trainer_svc.server, trainer_svc.data\n"
        "import trainer_svc.__main__\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torchvision'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
