"""Task specifications of the Net API (LEMUR spelling) and their validation."""

import math
import re
from dataclasses import dataclass, field, replace

IMG_CLASSIFICATION = "img-classification"
IMG_CAPTIONING = "img-captioning"
TASKS = (IMG_CLASSIFICATION, IMG_CAPTIONING)

# Captioning vocabulary specials, fixed by the Net API.
PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = {"<PAD>": PAD, "<SOS>": SOS, "<EOS>": EOS, "<UNK>": UNK}

# Keys LEMUR puts into prm besides the declared hyperparameters.
RESERVED_PRM_KEYS = frozenset({"batch", "transform", "epoch"})

# Bounds that keep a spec from asking a check or a training job for absurd resources.
MAX_BATCH = 1024
MAX_CHANNELS = 64
MAX_SIDE = 1024
MAX_OUTPUTS = 1_000_000


class TaskSpecError(ValueError):
    """A task spec that cannot describe a real task."""


@dataclass(frozen=True)
class TaskSpec:
    """What a candidate must do: task, dataset, first-batch shape, output shape, prm."""

    task: str
    dataset: str
    in_shape: tuple[int, ...]  # (B, C, H, W)
    out_shape: tuple[int, ...]  # (num_classes,) or (vocab_size,)
    hyperparameters: dict[str, float] = field(default_factory=dict)
    transform: str = ""

    @property
    def is_captioning(self) -> bool:
        return self.task == IMG_CAPTIONING

    def prm(self, epoch: int = 0) -> dict:
        """The prm dict a Net receives: declared hyperparameters plus batch/transform/epoch."""
        return {
            **self.hyperparameters,
            "batch": self.in_shape[0],
            "transform": self.transform,
            "epoch": epoch,
        }

    def with_hyperparameters(self, hyperparameters: dict[str, float]) -> "TaskSpec":
        return validate(replace(self, hyperparameters=dict(hyperparameters)))

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "dataset": self.dataset,
            "in_shape": list(self.in_shape),
            "out_shape": list(self.out_shape),
            "transform": self.transform,
            "hyperparameters": dict(self.hyperparameters),
        }


def _check_dims(name: str, dims: tuple[int, ...], bounds: tuple[int, ...]) -> None:
    if len(dims) != len(bounds):
        raise TaskSpecError(f"{name} must have {len(bounds)} dimensions, got {len(dims)}")
    for dim, bound in zip(dims, bounds, strict=True):
        if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= bound:
            raise TaskSpecError(f"{name} {dims} has a dimension outside 1..{bound}")


def validate(spec: TaskSpec) -> TaskSpec:
    """Return the spec if it is well formed; raise TaskSpecError saying what is wrong."""
    if spec.task not in TASKS:
        raise TaskSpecError(f"unknown task {spec.task!r}; expected one of {', '.join(TASKS)}")
    if not spec.dataset or len(spec.dataset) > 100:
        raise TaskSpecError("dataset must be a non-empty name of at most 100 characters")
    _check_dims("in_shape", spec.in_shape, (MAX_BATCH, MAX_CHANNELS, MAX_SIDE, MAX_SIDE))
    _check_dims("out_shape", spec.out_shape, (MAX_OUTPUTS,))
    if spec.is_captioning and spec.out_shape[0] <= len(SPECIAL_TOKENS):
        raise TaskSpecError("a captioning vocabulary must be larger than its 4 special tokens")
    for key, value in spec.hyperparameters.items():
        if key in RESERVED_PRM_KEYS:
            raise TaskSpecError(f"hyperparameter {key!r} is reserved for the trainer")
        if not key.isidentifier():
            raise TaskSpecError(f"hyperparameter name {key!r} is not an identifier")
        if not isinstance(value, int | float) or math.isnan(value) or not 0.0 <= value <= 1.0:
            raise TaskSpecError(f"hyperparameter {key!r}={value!r} is outside [0, 1]")
    return spec


def default_spec(task: str) -> TaskSpec:
    """The spec used when a caller names only the task: small batches at the check resolution."""
    if task == IMG_CLASSIFICATION:
        return TaskSpec(IMG_CLASSIFICATION, "cifar-10", (2, 3, 32, 32), (10,), {}, "norm_32")
    if task == IMG_CAPTIONING:
        return TaskSpec(IMG_CAPTIONING, "coco", (2, 3, 64, 64), (1000,), {}, "norm_64")
    raise TaskSpecError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


# LEMUR names a transform by what it does and the side of the square images it gives:
# norm_64, norm_256_flip, echo_224, complex_299_flip, resize-lemur-256. A name without a
# number (norm, echo_flip) leaves the images at the dataset's own size.
KEEP_SIZE_TRANSFORM = "norm"
_NAME_PARTS = re.compile(r"[_\-]")


def transform_side(name: str) -> int | None:
    """The side of the images a LEMUR transform name gives (norm_299 -> 299); None when the
    name has no number; TaskSpecError for several different numbers or an absurd side."""
    sides = {int(part) for part in _NAME_PARTS.split(name) if part.isascii() and part.isdigit()}
    if len(sides) > 1:
        raise TaskSpecError(f"transform {name!r} names several sides: {sorted(sides)}")
    if not sides:
        return None
    side = sides.pop()
    if not 1 <= side <= MAX_SIDE:
        raise TaskSpecError(f"transform {name!r} gives a side outside 1..{MAX_SIDE}")
    return side


def side_of_transform(name: str) -> int:
    """The side of the images a LEMUR transform name gives: ``side_of_transform("norm_299")``
    is 299. TaskSpecError for a name that gives none (``norm``: the dataset's own size)."""
    side = transform_side(name)
    if side is None:
        raise TaskSpecError(
            f"transform {name!r} names no side (LEMUR writes it as a number, e.g. norm_64); "
            "its images keep the dataset's own size"
        )
    return side


def resolve_input(
    task: str, transform: str, in_shape: tuple[int, ...] | None, default_in_shape: tuple[int, ...]
) -> tuple[str, tuple[int, ...]]:
    """The (transform, in_shape) a spec carries, from what a user gave: the one rule that has
    a check see the images training will see (the trainer resizes as the transform says).

    - a transform with a side: images of that side; a given in_shape must agree;
    - a transform with none: in_shape as given, else ``default_in_shape``;
    - an in_shape alone: the transform ``norm``, which keeps the dataset's size, so that the
      trainer does not resize to the task's default side;
    - neither: the task's default transform (norm_32 for classification) and its side, with
      the batch and channels of ``default_in_shape``.
    """
    if not transform and in_shape is None:
        transform = default_spec(task).transform
    elif not transform:
        transform = KEEP_SIZE_TRANSFORM
    side = transform_side(transform)
    if in_shape is None:
        in_shape = tuple(default_in_shape)
        if side is not None:
            in_shape = (*in_shape[:2], side, side)
    elif side is not None and tuple(in_shape[2:]) != (side, side):
        raise TaskSpecError(
            f"in_shape {tuple(in_shape)} does not agree with transform {transform!r}, which "
            f"gives {side}x{side} images"
        )
    return transform, tuple(in_shape)


def spec_for(
    task: str,
    *,
    transform: str = "",
    in_shape: tuple[int, ...] | None = None,
    dataset: str = "",
    out_shape: tuple[int, ...] | None = None,
) -> TaskSpec:
    """The check spec of ``task`` at the resolution a transform or in_shape asks for; the
    rest from default_spec. ``spec_for(task, transform="norm_299")`` checks 299x299 images."""
    base = default_spec(task)
    transform, in_shape = resolve_input(task, transform, in_shape, base.in_shape)
    dataset, out_shape = dataset or base.dataset, out_shape or base.out_shape
    return validate(TaskSpec(task, dataset, in_shape, out_shape, {}, transform))


def parse_in_shape(text: str) -> tuple[int, ...]:
    """``"2,3,64,64"`` -> (2, 3, 64, 64); TaskSpecError otherwise (bounds: validate)."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError as exc:
        raise TaskSpecError(f"in_shape {text!r} is not B,C,H,W (four integers)") from exc
    if len(shape) != 4:
        raise TaskSpecError(f"in_shape {text!r} is not B,C,H,W (four integers)")
    return shape


def parse_hyperparameters(text: str) -> dict[str, float]:
    """``"lr=0.05,momentum=0.9"`` -> {"lr": 0.05, "momentum": 0.9}; TaskSpecError otherwise."""
    values = {}
    for pair in filter(None, text.split(",")):
        name, _, value = pair.partition("=")
        try:
            values[name.strip()] = float(value)
        except ValueError as exc:
            raise TaskSpecError(f"hyperparameter {pair!r} is not NAME=NUMBER") from exc
    return values
