"""Named image transforms selected by `prm['transform']`, in LEMUR's spelling (`norm_32_flip`).

PIL + torch only, no torchvision (the trainer image carries CPU-only torch, beside which
PyPI's torchvision does not import); the steps reproduce torchvision's `Resize`,
`CenterCrop`, `RandomHorizontalFlip`, `ToTensor`, `PILToTensor` and `Normalize` on PIL
images exactly (tests/unit/trainer_svc/test_transforms_torchvision.py compares them).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from netapi.tasks import transform_side

# (mean, std) per channel; its length must match the images' channels.
Norm = tuple[tuple[float, ...], tuple[float, ...]]

IMAGENET_NORM: Norm = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CIFAR10_NORM: Norm = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_NORM: Norm = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
MNIST_NORM: Norm = ((0.1307,), (0.3081,))
FASHION_MNIST_NORM: Norm = ((0.2860,), (0.3530,))

# Side lengths LEMUR's transform names use.
SIZES = (32, 64, 128, 160, 224, 256, 299, 512)


@dataclass(frozen=True)
class TransformSpec:
    """What a transform name means: normalise or not, square side (None: keep), random flip."""

    normalize: bool
    size: int | None
    flip: bool


def _names() -> dict[str, TransformSpec]:
    """Every known name: {echo,norm}[_{size}][_flip]; the side read as checks read it."""
    names = {}
    for family in ("echo", "norm"):
        for size in (None, *SIZES):
            for flip in (False, True):
                name = family + (f"_{size}" if size else "") + ("_flip" if flip else "")
                names[name] = TransformSpec(family == "norm", transform_side(name), flip)
    return names


TRANSFORMS: dict[str, TransformSpec] = _names()


def known_transforms() -> tuple[str, ...]:
    """The transform names `get_transform` accepts, sorted."""
    return tuple(sorted(TRANSFORMS))


def transform_spec(name: str) -> TransformSpec:
    """What a transform name means; ValueError listing the known names for an unknown one."""
    spec = TRANSFORMS.get(name)
    if spec is None:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(known_transforms())}")
    return spec


def geometry(image: Image.Image, spec: TransformSpec) -> Image.Image:
    """The resizing of a transform (short side + centre crop for norm, square for echo).

    As torchvision's `Resize(size)` + `CenterCrop(size)` and `Resize((size, size))` on a
    PIL image: PIL bilinear (antialiased), the long side `int(size * long / short)`, the
    crop's corner rounded half to even, an image already of the target size untouched.
    """
    if spec.size is None:
        return image
    if not spec.normalize:
        return _resized(image, spec.size, spec.size)
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(spec.size * long / short)
    new_width, new_height = (spec.size, new_long) if width <= height else (new_long, spec.size)
    image = _resized(image, new_width, new_height)
    # The short side is now `size`, so the crop never needs CenterCrop's zero padding.
    top = round((new_height - spec.size) / 2.0)  # half to even, as torchvision rounds
    left = round((new_width - spec.size) / 2.0)
    return image.crop((left, top, left + spec.size, top + spec.size))


def _resized(image: Image.Image, width: int, height: int) -> Image.Image:
    if image.size == (width, height):
        return image
    return image.resize((width, height), Image.Resampling.BILINEAR)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> tensor [C, H, W] of the image's own dtype (uint8 for L/RGB), unscaled."""
    pixels = torch.as_tensor(np.array(image, copy=True))
    return pixels.view(image.height, image.width, len(image.getbands())).permute(2, 0, 1)


# PIL modes whose pixels are not uint8 (torchvision's ToTensor keeps these unscaled).
_WIDE_MODES = {"I": np.int32, "I;16": np.int16, "F": np.float32}


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> float tensor [C, H, W] in [0, 1] (uint8 modes divided by 255)."""
    pixels = torch.from_numpy(np.array(image, _WIDE_MODES.get(image.mode, np.uint8), copy=True))
    if image.mode == "1":
        pixels = 255 * pixels
    pixels = pixels.view(image.height, image.width, len(image.getbands()))
    pixels = pixels.permute(2, 0, 1).contiguous()
    if pixels.dtype == torch.uint8:
        return pixels.to(dtype=torch.get_default_dtype()).div(255)
    return pixels


def normalize(tensor: torch.Tensor, norm: Norm) -> torch.Tensor:
    """(tensor - mean) / std per channel, in place."""
    mean = torch.as_tensor(norm[0], dtype=tensor.dtype).view(-1, 1, 1)
    std = torch.as_tensor(norm[1], dtype=tensor.dtype).view(-1, 1, 1)
    if (std == 0).any():
        raise ValueError(f"a standard deviation of zero in {norm}")
    return tensor.sub_(mean).div_(std)


@dataclass(frozen=True)
class NamedTransform:
    """PIL image -> float tensor [C, H, W]: geometry, random flip (training), scale, normalise."""

    spec: TransformSpec
    norm: Norm
    train: bool

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = geometry(image, self.spec)
        # torch.rand(1) as torchvision's RandomHorizontalFlip draws it: same seed, same flips.
        if self.spec.flip and self.train and torch.rand(1) < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        tensor = to_tensor(image)
        return normalize(tensor, self.norm) if self.spec.normalize else tensor


def get_transform(name: str, norm: Norm = IMAGENET_NORM, train: bool = True) -> NamedTransform:
    """The transform a name stands for, applied to PIL images.

    `echo*` only resizes and converts to a [0, 1] tensor; `norm*` also normalises with
    `norm`. A size resizes the short side then centre-crops (`norm_N`, as LEMUR does) or
    resizes to N x N (`echo_N`). `_flip` adds a random horizontal flip, dropped when
    `train` is False so that evaluation is deterministic.
    """
    return NamedTransform(transform_spec(name), norm, train)


def resize_to_uint8(name: str) -> Callable[[Image.Image], torch.Tensor]:
    """PIL image -> uint8 tensor [C, H', W'] through the geometry of transform `name`."""
    spec = transform_spec(name)
    return lambda image: pil_to_tensor(geometry(image, spec))
