"""What a search method hands the engine for one slot: code to evaluate, or a prompt to send."""

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from search_core.domain import CandidateRecord, Generator
from search_core.search_config import SearchConfig
from search_core.services import PromptRequest


class NotInStore(LookupError):
    """The config names what the store does not hold (a zoo model, a knowledge tree): the
    search cannot run as configured."""


@dataclass
class Proposal:
    """One planned candidate. Exactly one of `code` (template) and `prompt` (llm) is set."""

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
