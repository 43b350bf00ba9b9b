"""The template composer's genome: a frozen description of one classification network."""

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

GENOME_VERSION = 1

# Block kinds. Residual kinds add their branch to a shortcut; plain and separable do not.
BLOCKS = ("plain", "basic", "bottleneck", "separable", "inverted", "inception", "convnext")
RESIDUAL_BLOCKS = frozenset({"basic", "bottleneck", "inverted", "inception", "convnext"})
# What "make it residual" turns a non-residual kind into (ResNet / MobileNetV2).
RESIDUAL_COUNTERPART = {"plain": "basic", "separable": "inverted"}
KERNELS = (3, 5, 7)
WIDTHS = (16, 24, 32, 48, 64, 96, 128, 160, 192, 256)
STEM_WIDTHS = (8, 16, 24, 32, 48, 64)
MAX_DEPTH = 4
MAX_STAGES = 4
# Stride-2 steps in all (stem included): 28 px inputs keep at least 3x3 feature maps.
MAX_DOWNSAMPLINGS = 3

STEMS = ("conv3", "conv5", "deep", "patchify", "coord")
NORMS = ("batch", "group", "layer", "instance", "none")
# Genome name -> torch.nn class (all exist in torch.nn since 1.9).
ACTIVATIONS = {
    "relu": "ReLU",
    "leaky_relu": "LeakyReLU",
    "relu6": "ReLU6",
    "elu": "ELU",
    "gelu": "GELU",
    "silu": "SiLU",
    "hardswish": "Hardswish",
    "mish": "Mish",
}
ATTENTIONS = ("none", "se", "eca", "cbam", "spatial")
DOWNSAMPLES = ("conv", "max", "avg")
BRANCH_SCALES = ("none", "layerscale", "rezero")
FUSIONS = ("none", "multiscale")
HEADS = ("avg", "avg_max", "avg_mlp")
DROP_PATHS = (0.0, 0.05, 0.1, 0.2)
LABEL_SMOOTHINGS = (0.0, 0.05, 0.1)
# Hyperparameters the rendered code reads from prm; all values lie in [0, 1].
HYPERPARAMETERS = ("lr", "momentum", "weight_decay", "dropout")

CHOICES: dict[str, tuple] = {
    "stem": STEMS,
    "stem_width": STEM_WIDTHS,
    "norm": NORMS,
    "activation": tuple(ACTIVATIONS),
    "attention": ATTENTIONS,
    "downsample": DOWNSAMPLES,
    "branch_scale": BRANCH_SCALES,
    "fusion": FUSIONS,
    "head": HEADS,
    "drop_path": DROP_PATHS,
    "label_smoothing": LABEL_SMOOTHINGS,
}
STAGE_CHOICES: dict[str, tuple] = {
    "block": BLOCKS,
    "depth": tuple(range(1, MAX_DEPTH + 1)),
    "width": WIDTHS,
    "stride": (1, 2),
    "kernel": KERNELS,
}


class GenomeError(ValueError):
    """A genome, or its dict form, outside the composer's space."""


@dataclass(frozen=True)
class Stage:
    """A run of `depth` blocks of one kind; the first block changes width and stride."""

    block: str = "basic"
    depth: int = 2
    width: int = 64
    stride: int = 1
    kernel: int = 3

    @property
    def is_residual(self) -> bool:
        return self.block in RESIDUAL_BLOCKS


def _default_stages() -> tuple[Stage, ...]:
    return (Stage("basic", 2, 32, 1), Stage("basic", 2, 64, 2), Stage("basic", 2, 128, 2))


@dataclass(frozen=True)
class Genome:
    """One network of the template space, and the hyperparameter values it is trained with."""

    stem: str = "conv3"
    stem_width: int = 32
    stages: tuple[Stage, ...] = field(default_factory=_default_stages)
    norm: str = "batch"
    activation: str = "relu"
    attention: str = "none"  # "se" is squeeze-and-excitation on
    downsample: str = "conv"  # how stride-2 stages shrink the feature map
    branch_scale: str = "none"  # learnable scale on residual branches
    fusion: str = "none"  # "multiscale": the head sees every stage's pooled features
    head: str = "avg"
    drop_path: float = 0.0  # stochastic depth, the last block's rate
    label_smoothing: float = 0.0
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.5  # the code uses prm['weight_decay'] * 1e-3
    dropout: float = 0.2  # the code uses p = 0.5 * prm['dropout']

    @property
    def has_residual(self) -> bool:
        return any(stage.is_residual for stage in self.stages)

    @property
    def downsamplings(self) -> int:
        return sum(stage.stride == 2 for stage in self.stages) + (self.stem == "patchify")

    @property
    def hyperparameters(self) -> dict[str, float]:
        """The prm values this genome is trained with (the declared hyperparameters)."""
        return {name: getattr(self, name) for name in HYPERPARAMETERS}


def round_value(value: float) -> float:
    """Four significant digits: keeps hyperparameters readable and JSON round trips exact."""
    if value == 0:
        return 0.0
    return round(value, 3 - math.floor(math.log10(abs(value))))


def validate(genome: Genome) -> Genome:
    """Return the genome if it lies in the composer's space; raise GenomeError otherwise."""
    for name, allowed in CHOICES.items():
        if isinstance(getattr(genome, name), bool) or getattr(genome, name) not in allowed:
            raise GenomeError(f"{name}={getattr(genome, name)!r} is not one of {allowed}")
    if not 1 <= len(genome.stages) <= MAX_STAGES:
        raise GenomeError(f"a genome has 1 to {MAX_STAGES} stages, got {len(genome.stages)}")
    for index, stage in enumerate(genome.stages):
        if not isinstance(stage, Stage):
            raise GenomeError(f"stages[{index}] is not a Stage")
        for name, allowed in STAGE_CHOICES.items():
            if isinstance(getattr(stage, name), bool) or getattr(stage, name) not in allowed:
                raise GenomeError(
                    f"stages[{index}].{name}={getattr(stage, name)!r} is not one of {allowed}"
                )
    if genome.downsamplings > MAX_DOWNSAMPLINGS:
        raise GenomeError(
            f"{genome.downsamplings} stride-2 steps; at most {MAX_DOWNSAMPLINGS} keep 28 px "
            "inputs at 3x3 or more"
        )
    for name in HYPERPARAMETERS:
        value = getattr(genome, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise GenomeError(f"hyperparameter {name}={value!r} is outside [0, 1]")
    return genome


def canonical(genome: Genome) -> Genome:
    """The genome with fields that cannot change the code reset, so equal code means equal genomes.

    Inception blocks have fixed kernels; without a residual stage there is no branch to
    scale or drop; without a stride-2 stage nothing is downsampled; hyperparameters are
    rounded to four significant digits.
    """
    stages = tuple(
        replace(stage, kernel=3) if stage.block == "inception" else stage for stage in genome.stages
    )
    changes: dict[str, Any] = {"stages": stages}
    if not any(stage.is_residual for stage in stages):
        changes.update(branch_scale="none", drop_path=0.0)
    if not any(stage.stride == 2 for stage in stages):
        changes["downsample"] = "conv"
    for name in HYPERPARAMETERS:
        changes[name] = round_value(float(getattr(genome, name)))
    return validate(replace(genome, **changes))


def genome_to_dict(genome: Genome) -> dict[str, Any]:
    """A JSON-able dict; genome_from_dict(genome_to_dict(g)) == g."""
    data: dict[str, Any] = {"version": GENOME_VERSION}
    for item in fields(Genome):
        value = getattr(genome, item.name)
        if item.name == "stages":
            value = [
                {name: getattr(stage, name) for name in STAGE_CHOICES} for stage in genome.stages
            ]
        data[item.name] = value
    return data


def genome_from_dict(data: Any) -> Genome:
    """The genome a genome_to_dict dict describes; GenomeError says what is wrong with a bad one."""
    if not isinstance(data, dict):
        raise GenomeError(f"a genome is a JSON object, got {type(data).__name__}")
    if data.get("version", GENOME_VERSION) != GENOME_VERSION:
        raise GenomeError(f"unsupported genome version {data.get('version')!r}")
    known = {item.name for item in fields(Genome)} | {"version"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GenomeError(f"unknown genome keys: {', '.join(unknown)}")
    values = {name: value for name, value in data.items() if name != "version"}
    raw_stages = values.get("stages", [])
    if not isinstance(raw_stages, list):
        raise GenomeError("stages must be a list of objects")
    stages = []
    for index, raw in enumerate(raw_stages):
        if not isinstance(raw, dict) or set(raw) - set(STAGE_CHOICES):
            raise GenomeError(
                f"stages[{index}] must be an object with keys {', '.join(STAGE_CHOICES)}"
            )
        stages.append(Stage(**raw))
    values["stages"] = tuple(stages)
    return validate(Genome(**values))


def describe(genome: Genome) -> str:
    """One line a person can read, e.g. 'conv3/32 | basic 2x64 s1, basic 2x128 s2 | batch relu'."""
    stages = ", ".join(
        f"{s.block} {s.depth}x{s.width} s{s.stride}" + (f" k{s.kernel}" if s.kernel != 3 else "")
        for s in genome.stages
    )
    extras = [
        f"{name}={getattr(genome, name)}"
        for name in ("attention", "downsample", "branch_scale", "fusion", "head")
        if getattr(genome, name) != getattr(Genome, name)
    ]
    extras += [
        f"{name}={getattr(genome, name):g}"
        for name in ("drop_path", "label_smoothing")
        if getattr(genome, name)
    ]
    tail = f" | {' '.join(extras)}" if extras else ""
    return f"{genome.stem}/{genome.stem_width} | {stages} | {genome.norm} {genome.activation}{tail}"
