"""What a search method hands the engine for one slot: code to evaluate, or a prompt to send."""

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from search_core.domain import CandidateRecord, Generator
from search_core.search_config import SearchConfig
from search_core.services import PromptRequest

# Mutations of yardsticks: a zoo model trained unchanged to compare the searched ones with
# (NN-Caption's campaign baselines, the reference method's models). Each search trains its
# own, so a yardstick is judged new within its search only, never against the tenant's
# earlier searches (where it would always be a duplicate).
BASELINE_MUTATION = "baseline"
REFERENCE_MUTATION = "reference"
YARDSTICK_MUTATIONS = frozenset({BASELINE_MUTATION, REFERENCE_MUTATION})


class NotInStore(LookupError):
    """The config names what the store does not hold (a zoo model, a knowledge tree): the
    search cannot run as configured."""


@dataclass
class Proposal:
    """One planned candidate. Exactly one of `code` (template), `prompt` (llm) and
    `tuning_prompt` is set."""

    prefix: str  # name prefix, e.g. "C5C-ResNetLSTM" or "FairNAD-Template"
    generator: Generator
    code: str = ""
    prompt: PromptRequest | None = None
    parent: str = ""
    parent_code: str = ""  # a mutation's starting code: never accepted back as the candidate
    examples: list[str] = field(default_factory=list)  # prompt examples: copies are duplicates
    mutation: str = ""
    idea: dict[str, str] = field(default_factory=dict)
    snippets: list[str] = field(default_factory=list)
    hyperparameters: dict[str, float] = field(default_factory=dict)
    genome: dict[str, Any] | None = None  # template candidates: the genome they render
    # Edit mode: the prompt asked for the changes only, merged into parent_code.
    edit: bool = False
    memory: str = ""  # the feedback memory the prompt carried, for the repair prompts
    # Hyperparameter tuning by the LLM: the prompt answers JSON, {"hyperparameters": {...}},
    # and the candidate is parent_code with those values. The code is ours, not the model's,
    # so it is a template candidate (no code repair, exact duplicates only).
    tuning_prompt: PromptRequest | None = None


class SearchMethod(Protocol):
    """A search strategy: proposes the candidate of a slot from what has finished so far.

    `history` holds the search's finished candidates in finishing order. The same slot,
    rng seed and history give the same proposal, so a resumed search plans identically.
    """

    def propose(
        self, slot: int, rng: random.Random, history: list[CandidateRecord]
    ) -> Proposal: ...


def slot_rng(config: SearchConfig, slot: int) -> random.Random:
    """The random source of one slot: independent of the order slots run in, and of other
    methods' (a baseline with the same seed must not draw the same models)."""
    return random.Random(f"{config.method.value}:{config.seed}:{slot}")
