"""Named image transforms selected by `prm['transform']`, in LEMUR's spelling (`norm_32_flip`)."""

from dataclasses import dataclass

from torchvision import transforms as T

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
    """Every known name: {echo,norm}[_{size}][_flip]."""
    names = {}
    for family in ("echo", "norm"):
        for size in (None, *SIZES):
            for flip in (False, True):
                name = family + (f"_{size}" if size else "") + ("_flip" if flip else "")
                names[name] = TransformSpec(family == "norm", size, flip)
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


def geometry(spec: TransformSpec) -> list:
    """The resizing steps of a transform (short side + centre crop for norm, square for echo)."""
    if spec.size is not None and spec.normalize:
        return [T.Resize(spec.size), T.CenterCrop(spec.size)]
    if spec.size is not None:
        return [T.Resize((spec.size, spec.size))]
    return []


def get_transform(name: str, norm: Norm = IMAGENET_NORM, train: bool = True) -> T.Compose:
    """The torchvision transform a name stands for, applied to PIL images.

    `echo*` only resizes and converts to a [0, 1] tensor; `norm*` also normalises with
    `norm`. A size resizes the short side then centre-crops (`norm_N`, as LEMUR does) or
    resizes to N x N (`echo_N`). `_flip` adds a random horizontal flip, dropped when
    `train` is False so that evaluation is deterministic.
    """
    spec = transform_spec(name)
    steps = geometry(spec)
    if spec.flip and train:
        steps.append(T.RandomHorizontalFlip())
    steps.append(T.ToTensor())
    if spec.normalize:
        steps.append(T.Normalize(*norm))
    return T.Compose(steps)
