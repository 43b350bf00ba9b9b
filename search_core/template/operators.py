"""Search operators over genomes: random sampling, mutation, idea application, Pareto moves.

Every operator takes a random.Random and returns a canonical genome inside the space's
budgets (search_core.template.cost). mutate, scale_up and tune_hyperparameters return the
parent itself (`child == parent`) when they find no change they may make (scale_up on a
genome at the budget). apply_idea raises IdeaNotRealisable for an attribute without an
`apply` entry or with one the composer does not understand, and its subclass
IdeaHasNoEffect when the parent already has the idea or the change cannot fit the budget;
`realisable` and `realisations` say beforehand which ideas it can realise (in general, and
on one parent).

`apply` entries (the knowledge tree's machine-readable half) are one op or a list of ops:
    {"op": "set", "field": F, "value": V}       a genome field (CHOICES) or hyperparameter
    {"op": "set_stage", "field": F, "value": V, "stages": "random"|"all"|"first"|"last"}
                                                  F is block, kernel or stride
    {"op": "scale", "width": 1.5, "depth": 1, "stages": 1, "stem_width": 2.0}   any subset
    {"op": "ensure_residual"}                     plain -> basic, separable -> inverted
"""

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from search_core.template.cost import cost, within_budget
from search_core.template.genome import (
    BLOCKS,
    CHOICES,
    HYPERPARAMETERS,
    KERNELS,
    MAX_DEPTH,
    MAX_DOWNSAMPLINGS,
    MAX_STAGES,
    RESIDUAL_COUNTERPART,
    STAGE_CHOICES,
    STEM_WIDTHS,
    WIDTHS,
    Genome,
    GenomeError,
    Stage,
    canonical,
    round_value,
    validate,
)

STAGE_OPS = ("block", "kernel", "stride")
STAGE_SELECTORS = ("random", "all", "first", "last")
SCALE_KEYS = ("width", "depth", "stages", "stem_width")
MAX_TRIES = 200


class IdeaNotRealisable(ValueError):
    """An idea the template composer cannot realise: no `apply` entry, or one it cannot read."""


class IdeaHasNoEffect(IdeaNotRealisable):
    """A realisable idea that would not change this parent (it has it, or it cannot fit)."""


def _nearest(choices: tuple, value: float) -> Any:
    return min(choices, key=lambda choice: (abs(choice - value), choice))


def _fit_downsampling(genome: Genome) -> Genome:
    """Turn the last stride-2 stages into stride 1 until the downsampling limit holds."""
    stages = list(genome.stages)
    while sum(s.stride == 2 for s in stages) + (genome.stem == "patchify") > MAX_DOWNSAMPLINGS:
        last = max(i for i, s in enumerate(stages) if s.stride == 2)
        stages[last] = replace(stages[last], stride=1)
    return replace(genome, stages=tuple(stages))


def _fit_budget(genome: Genome) -> Genome | None:
    """Narrow the widest stage a notch at a time until the genome fits the budgets."""
    while not within_budget(genome):
        widest = max(range(len(genome.stages)), key=lambda i: genome.stages[i].width)
        stage = genome.stages[widest]
        position = WIDTHS.index(stage.width)
        if position == 0:
            return None
        stages = list(genome.stages)
        stages[widest] = replace(stage, width=WIDTHS[position - 1])
        genome = replace(genome, stages=tuple(stages))
    return genome


def _random_hyperparameters(rng: random.Random) -> dict[str, float]:
    return {
        "lr": round_value(math.exp(rng.uniform(math.log(0.005), math.log(0.2)))),
        "momentum": round_value(rng.uniform(0.8, 0.99)),
        "weight_decay": round_value(rng.uniform(0.1, 1.0)),
        "dropout": round_value(rng.uniform(0.0, 0.6)),
    }


def random_genome(rng: random.Random) -> Genome:
    """A genome drawn over the whole space (the random-search baseline), within the budgets."""
    for _ in range(MAX_TRIES):
        count = rng.randint(1, MAX_STAGES)
        widths = sorted(rng.choice(WIDTHS) for _ in range(count))
        stages = tuple(
            Stage(
                block=rng.choice(BLOCKS),
                depth=rng.randint(1, 3),
                width=width,
                stride=2 if rng.random() < (0.3 if index == 0 else 0.6) else 1,
                kernel=rng.choice(KERNELS),
            )
            for index, width in enumerate(widths)
        )
        fields = {name: rng.choice(choices) for name, choices in CHOICES.items()}
        genome = Genome(stages=stages, **fields, **_random_hyperparameters(rng))
        genome = canonical(_fit_downsampling(genome))
        if within_budget(genome):
            return genome
    return canonical(Genome())


def _finish(parent: Genome, child: Genome) -> Genome | None:
    """The canonical child if it is valid, new and within budget; else None."""
    try:
        child = canonical(child)
    except GenomeError:
        return None
    if child == parent or not within_budget(child):
        return None
    return child


def _mutate_field(genome: Genome, rng: random.Random) -> Genome:
    name = rng.choice(sorted(CHOICES))
    return replace(genome, **{name: rng.choice(CHOICES[name])})


def _mutate_stage(genome: Genome, rng: random.Random) -> Genome:
    index = rng.randrange(len(genome.stages))
    name = rng.choice(sorted(STAGE_CHOICES))
    stages = list(genome.stages)
    stages[index] = replace(stages[index], **{name: rng.choice(STAGE_CHOICES[name])})
    return replace(genome, stages=tuple(stages))


def _add_or_remove_stage(genome: Genome, rng: random.Random) -> Genome:
    stages = list(genome.stages)
    if len(stages) > 1 and (len(stages) == MAX_STAGES or rng.random() < 0.5):
        del stages[rng.randrange(len(stages))]
    else:
        last = stages[-1]
        stages.append(replace(last, depth=1, stride=rng.choice((1, 2))))
    return replace(genome, stages=tuple(stages))


ARCHITECTURE_MUTATIONS: tuple[Callable[[Genome, random.Random], Genome], ...] = (
    _mutate_field,
    _mutate_stage,
    _add_or_remove_stage,
)


def mutate(genome: Genome, rng: random.Random) -> Genome:
    """One random architecture change (regularized evolution's mutation); hyperparameters stay."""
    genome = canonical(genome)
    for _ in range(MAX_TRIES):
        child = _finish(genome, rng.choice(ARCHITECTURE_MUTATIONS)(genome, rng))
        if child is not None:
            return child
    return genome


def _scale_options(genome: Genome, rng: random.Random) -> list[Genome]:
    options = []
    for index, stage in enumerate(genome.stages):
        stages = list(genome.stages)
        position = WIDTHS.index(stage.width)
        if position + 1 < len(WIDTHS):
            stages[index] = replace(stage, width=WIDTHS[position + 1])
            options.append(replace(genome, stages=tuple(stages)))
        if stage.depth < MAX_DEPTH:
            stages = list(genome.stages)
            stages[index] = replace(stage, depth=stage.depth + 1)
            options.append(replace(genome, stages=tuple(stages)))
    options.append(_scale(genome, {"width": 1.25}))
    if len(genome.stages) < MAX_STAGES:
        options.append(_scale(genome, {"stages": 1}))
    rng.shuffle(options)
    return options


def scale_up(genome: Genome, rng: random.Random) -> Genome:
    """Pareto-aware mutation for a small model: a wider or deeper network with more parameters."""
    genome = canonical(genome)
    size = cost(genome).parameters
    for option in _scale_options(genome, rng):
        child = _finish(genome, option)
        if child is not None and cost(child).parameters > size:
            return child
    return genome


def tune_hyperparameters(genome: Genome, rng: random.Random) -> Genome:
    """Pareto-aware mutation for a large model: perturb one or two hyperparameters only."""
    genome = canonical(genome)
    perturb = {
        "lr": lambda v: min(1.0, max(1e-4, v * math.exp(rng.gauss(0, 0.5)))),
        "momentum": lambda v: min(0.99, max(0.0, v + rng.gauss(0, 0.03))),
        "weight_decay": lambda v: min(1.0, max(0.01, v * math.exp(rng.gauss(0, 0.5)))),
        "dropout": lambda v: min(0.9, max(0.0, v + rng.gauss(0, 0.1))),
    }
    for _ in range(MAX_TRIES):
        names = rng.sample(HYPERPARAMETERS, rng.randint(1, 2))
        child = canonical(replace(genome, **{n: perturb[n](getattr(genome, n)) for n in names}))
        if child != genome:
            return child
    return genome


# --- ideas ---------------------------------------------------------------------------


def _ops(apply: Any) -> list[dict]:
    """The ops of an `apply` entry, checked; IdeaNotRealisable says what is wrong."""
    if apply is None:
        raise IdeaNotRealisable("the idea has no apply entry")
    ops = apply if isinstance(apply, list) else [apply]
    if not ops:
        raise IdeaNotRealisable("the apply entry is an empty list")
    for op in ops:
        if not isinstance(op, dict):
            raise IdeaNotRealisable(f"an apply op must be an object, got {op!r}")
        kind = op.get("op")
        if kind == "set":
            name, value = op.get("field"), op.get("value")
            if name in CHOICES:
                if isinstance(value, bool) or value not in CHOICES[name]:
                    raise IdeaNotRealisable(f"{name} cannot be {value!r}")
            elif name in HYPERPARAMETERS:
                if not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise IdeaNotRealisable(f"hyperparameter {name} must be in [0, 1]")
            else:
                raise IdeaNotRealisable(f"the composer has no genome field {name!r}")
        elif kind == "set_stage":
            name, value = op.get("field"), op.get("value")
            if name not in STAGE_OPS or value not in STAGE_CHOICES[name]:
                raise IdeaNotRealisable(f"stage field {name!r} cannot be {value!r}")
            if op.get("stages", "random") not in STAGE_SELECTORS:
                raise IdeaNotRealisable(f"stages must be one of {STAGE_SELECTORS}")
        elif kind == "scale":
            keys = set(op) - {"op"}
            if not keys or keys - set(SCALE_KEYS):
                raise IdeaNotRealisable(f"scale takes some of {SCALE_KEYS}, got {sorted(keys)}")
            if any(not isinstance(op[k], int | float) or isinstance(op[k], bool) for k in keys):
                raise IdeaNotRealisable("scale values must be numbers")
        elif kind != "ensure_residual":
            raise IdeaNotRealisable(f"unknown apply op {kind!r}")
    return ops


def realisable(attribute: Any) -> bool:
    """Whether the composer can realise an attribute (one with a readable `apply` entry)."""
    try:
        _ops(getattr(attribute, "apply", None))
    except IdeaNotRealisable:
        return False
    return True


def _scale(genome: Genome, op: dict) -> Genome:
    stages = list(genome.stages)
    if "width" in op:
        stages = [replace(s, width=_nearest(WIDTHS, s.width * op["width"])) for s in stages]
    if "depth" in op:
        stages = [replace(s, depth=min(MAX_DEPTH, max(1, s.depth + op["depth"]))) for s in stages]
    if op.get("stages", 0) > 0 and len(stages) < MAX_STAGES:
        last = stages[-1]
        wider = WIDTHS[min(len(WIDTHS) - 1, WIDTHS.index(last.width) + 1)]
        stages.append(replace(last, depth=1, width=wider, stride=2))
    elif op.get("stages", 0) < 0 and len(stages) > 1:
        stages.pop()
    stem_width = genome.stem_width
    if "stem_width" in op:
        stem_width = _nearest(STEM_WIDTHS, stem_width * op["stem_width"])
    return _fit_downsampling(replace(genome, stages=tuple(stages), stem_width=stem_width))


def _set_stage(genome: Genome, op: dict, rng: random.Random) -> Genome:
    name, value = op["field"], op["value"]
    stages = list(genome.stages)
    selector = op.get("stages", "random")
    if selector == "all":
        indices = list(range(len(stages)))
    elif selector in ("first", "last"):
        indices = [0 if selector == "first" else len(stages) - 1]
    else:  # a random stage that does not have the value yet
        pending = [i for i, s in enumerate(stages) if getattr(s, name) != value]
        indices = [rng.choice(pending)] if pending else []
    for index in indices:
        stages[index] = replace(stages[index], **{name: value})
    genome = replace(genome, stages=tuple(stages))
    if name == "stride" and value == 2:  # keep this stage's stride, give up a later one
        while genome.downsamplings > MAX_DOWNSAMPLINGS:
            later = [i for i, s in enumerate(stages) if s.stride == 2 and i not in indices]
            if not later:
                break
            stages[later[-1]] = replace(stages[later[-1]], stride=1)
            genome = replace(genome, stages=tuple(stages))
    return _fit_downsampling(genome)


def _ensure_residual(genome: Genome) -> Genome:
    stages = tuple(
        replace(s, block=RESIDUAL_COUNTERPART.get(s.block, s.block)) for s in genome.stages
    )
    return replace(genome, stages=stages)


def apply_idea(genome: Genome, attribute: Any, rng: random.Random) -> Genome:
    """Realise a knowledge-tree attribute on a parent (FairNAD mutation type I): a new genome.

    Raises IdeaNotRealisable when the attribute has no readable `apply`, and IdeaHasNoEffect
    when the parent already has the idea or the change cannot fit the budgets.
    """
    ops = _ops(getattr(attribute, "apply", None))
    parent = canonical(genome)
    child = parent
    for op in ops:
        if op["op"] == "set":
            child = replace(child, **{op["field"]: op["value"]})
        elif op["op"] == "set_stage":
            child = _set_stage(child, op, rng)
        elif op["op"] == "scale":
            child = _scale(child, op)
        else:
            child = _ensure_residual(child)
    child = canonical(_fit_downsampling(child))
    if not any(op["op"] == "scale" for op in ops):  # a scaling idea is not undone to fit
        child = _fit_budget(child) or child
    if not within_budget(child):
        raise IdeaHasNoEffect(f"{_name(attribute)} does not fit the budget on this parent")
    if child == parent:
        raise IdeaHasNoEffect(f"the parent already has {_name(attribute)}")
    return validate(child)


def _name(attribute: Any) -> str:
    return repr(getattr(attribute, "name", "the idea"))


def realisations(
    genome: Genome, attributes: Iterable[Any], rng: random.Random
) -> dict[str, Genome]:
    """The child each attribute makes of `genome`, by attribute name.

    Ideas the composer cannot realise, and those that leave this parent unchanged (it has the
    idea, or the change cannot fit), are left out: what remains is what fair idea sampling may
    draw for this parent, and drawing among it needs no retry.
    """
    children = {}
    for attribute in attributes:
        try:
            children[attribute.name] = apply_idea(genome, attribute, rng)
        except IdeaNotRealisable:
            continue
    return children
