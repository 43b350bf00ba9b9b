"""Task specifications of the Net API (LEMUR spelling) and their validation."""

import math
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
