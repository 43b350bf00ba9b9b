"""Synthetic inputs for a check: a batch and a tiny loader shaped like the task's real data."""

import torch

from netapi.tasks import EOS, PAD, SOS, SPECIAL_TOKENS, TaskSpec

CAPTIONS_PER_IMAGE = 2
CAPTION_LENGTH = 12
LOADER_BATCHES = 2

# Values for declared hyperparameters the task spec does not set.
DEFAULT_HYPERPARAMETERS = {"lr": 0.01, "momentum": 0.9, "dropout": 0.2, "weight_decay": 0.0005}


def images(spec: TaskSpec, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(spec.in_shape, generator=generator)  # [B, C, H, W]


def captions(spec: TaskSpec, generator: torch.Generator) -> torch.Tensor:
    """[B, Ncaps, T]: <SOS> words <EOS> <PAD>..., words drawn from the vocabulary."""
    batch, vocabulary = spec.in_shape[0], spec.out_shape[0]
    tokens = torch.randint(
        len(SPECIAL_TOKENS),
        vocabulary,
        (batch, CAPTIONS_PER_IMAGE, CAPTION_LENGTH),
        generator=generator,
    )
    tokens[:, :, 0] = SOS
    lengths = torch.randint(4, CAPTION_LENGTH - 1, (batch, CAPTIONS_PER_IMAGE), generator=generator)
    for b in range(batch):
        for c in range(CAPTIONS_PER_IMAGE):
            tokens[b, c, lengths[b, c]] = EOS
            tokens[b, c, lengths[b, c] + 1 :] = PAD
    return tokens


def labels(spec: TaskSpec, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, spec.out_shape[0], (spec.in_shape[0],), generator=generator)  # [B]


def batch(spec: TaskSpec, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One (inputs, targets) batch as the task's loader yields it."""
    targets = captions(spec, generator) if spec.is_captioning else labels(spec, generator)
    return images(spec, generator), targets


def loader(spec: TaskSpec, generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [batch(spec, generator) for _ in range(LOADER_BATCHES)]


def prm_for(spec: TaskSpec, declared: set[str]) -> dict:
    """prm as the trainer builds it: declared keys (from the spec or defaults) + reserved keys."""
    values = {
        name: spec.hyperparameters.get(name, DEFAULT_HYPERPARAMETERS.get(name, 0.5))
        for name in sorted(declared)
    }
    return {**values, "batch": spec.in_shape[0], "transform": spec.transform, "epoch": 0}
