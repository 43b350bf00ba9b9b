"""The records search_core keeps: tenants, searches, candidates, events, zoo models, trees.

Plain dataclasses with no I/O; the store persists them and the engine fills them in.
"""

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from netapi.outcomes import Outcome


class SearchState(enum.StrEnum):
    """The life of a search (matches SearchState in search_core.proto)."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"  # a dependency is down; resumes by itself (not a terminal state)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({SearchState.SUCCEEDED, SearchState.FAILED, SearchState.CANCELLED})
# What counts against a tenant's running_searches quota: every search that has not ended.
ACTIVE_STATES = frozenset({SearchState.QUEUED, SearchState.RUNNING, SearchState.PAUSED})


class Method(enum.StrEnum):
    """Search strategies (matches SearchMethod in search_core.proto)."""

    NN_CAPTION = "nn_caption"
    FAIRNAD = "fairnad"
    RANDOM = "random"
    REGULARIZED_EVOLUTION = "regularized_evolution"
    REFERENCE = "reference"  # the zoo's hand-written models, trained unchanged: a yardstick
    REPRODUCE = "reproduce"  # one stored candidate retrained from its record


class Generator(enum.StrEnum):
    """What wrote a candidate's code."""

    LLM = "llm"
    TEMPLATE = "template"


def default_generator(method: Method) -> Generator:
    """What writes a method's candidates unless its config says otherwise: the LLM for the
    LLM-guided methods, the template composer for the baselines."""
    return Generator.LLM if method in (Method.NN_CAPTION, Method.FAIRNAD) else Generator.TEMPLATE


class CandidateStatus(enum.StrEnum):
    """How far a candidate got; the engine resumes an unfinished one from here after a restart."""

    PLANNED = "planned"  # slot taken, nothing generated yet
    GENERATED = "generated"  # code exists, not yet checked
    CHECKED = "checked"  # passed the sandbox check, waiting for training
    DONE = "done"  # has its final outcome


def now() -> float:
    return time.time()


@dataclass
class Tenant:
    tenant_id: str
    display_name: str = ""
    created_at: float = field(default_factory=now)


@dataclass
class EpochMetrics:
    """One training epoch of a candidate."""

    epoch: int
    train_loss: float
    validation_metric: float  # accuracy, or BLEU-4 for captioning
    samples_per_second: float = 0.0
    wall_time_ms: int = 0


@dataclass
class SearchRecord:
    """One search and its progress. `config` is the SearchConfig as a JSON-able dict."""

    search_id: str
    tenant_id: str
    method: Method
    config: dict[str, Any]
    state: SearchState = SearchState.QUEUED
    client_request_id: str = ""
    created_at: float = field(default_factory=now)
    finished_at: float | None = None
    error_type: str = ""
    error_message: str = ""
    status_message: str = ""  # human-readable, e.g. why a search is paused


@dataclass
class CandidateRecord:
    """One generated model and everything known about it."""

    candidate_id: str
    search_id: str
    tenant_id: str
    slot: int  # 0-based position in the search's budget; unique per search
    status: CandidateStatus = CandidateStatus.PLANNED
    name: str = ""  # `<prefix>-<md5>`, e.g. "C5C-ResNetLSTM-0f3a..."
    code: str = ""
    code_md5: str = ""  # md5 of the code with whitespace and comments removed
    structure_hash: str = ""  # hash of the module structure with user names canonicalised
    parent: str = ""  # candidate id or zoo model name
    generator: Generator = Generator.LLM
    prompt_variant: str = ""
    model: str = ""  # the LLM that wrote it; empty for the template generator
    snippets: list[str] = field(default_factory=list)  # zoo models in its prompt
    idea: dict[str, str] = field(default_factory=dict)  # e.g. {"category": ..., "attribute": ...}
    mutation: str = ""  # which operator produced it, e.g. "fair_idea", "scale_up"
    genome: dict[str, Any] | None = None  # template candidates: the genome that renders the code
    outcome: Outcome | None = None
    stage: str = ""  # the stage that decided the outcome
    error_type: str = ""
    error_message: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)
    # Warnings of its code's last check (netapi.findings.Finding.to_dict): what LEMUR accepts
    # but the Net API spells otherwise; shown with the candidate, never its outcome.
    warnings: list[dict[str, Any]] = field(default_factory=list)
    parameter_count: int | None = None
    flops: int | None = None
    hyperparameters: dict[str, float] = field(default_factory=dict)
    epochs: list[EpochMetrics] = field(default_factory=list)
    score: float | None = None  # accuracy, or corpus BLEU-4 for captioning
    scores: dict[str, float] = field(default_factory=dict)  # every score the trainer reported
    repair_attempts: int = 0
    history: list[dict[str, Any]] = field(
        default_factory=list
    )  # each attempt's code md5, outcome, error
    created_at: float = field(default_factory=now)
    finished_at: float | None = None
    # How the code came to be (search_core.generation): the deterministic fixes applied to the
    # code as it stands ({"rule", "detail"}), and e.g. {"mode": "edit", "merge": {...}}.
    fixes: list[dict[str, str]] = field(default_factory=list)
    generation: dict[str, Any] = field(default_factory=dict)
    # False when a parameter the candidate added gets no gradient: its idea is not on the path
    # from input to loss. None when unknown or not an idea mutation.
    idea_applied: bool | None = None
    unused_parameters: list[str] = field(default_factory=list)  # the sandbox's report
    # Every LLM call made for it: prompt_tokens, generated_tokens, seconds, calls.
    llm_usage: dict[str, float] = field(default_factory=dict)
    signature: list[int] | None = None  # MinHash of the code, for near-copy checks
    # The best epoch's weights as the trainer kept them: {"job_id", "sha256", "size_bytes",
    # "epoch"}; empty when none were kept.
    weights: dict[str, Any] = field(default_factory=dict)
    # How it came to be, enough to make it again (the fields of the API's Provenance):
    # prompt name/version/digest, raw answer, reasoning, model identity, sampling, runtime
    # image digest, dataset name and digest, code hash, training seed and epochs.
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def is_done(self) -> bool:
        return self.status == CandidateStatus.DONE


@dataclass
class SearchEvent:
    """One entry of a search's event log; sequence is strictly increasing per search from 1."""

    search_id: str
    sequence: int
    kind: str  # "state_changed", "candidate_finished", "candidate_epoch"
    payload: dict[str, Any]
    time: float = field(default_factory=now)


@dataclass
class ZooModel:
    """A model of the zoo: written by us, or imported from a LEMUR database."""

    name: str  # e.g. "ResNet", "ResNetLSTM"
    task: str  # netapi task, "img-classification" or "img-captioning"
    code: str
    family: str = ""  # e.g. "ResNet"; captioners: encoder+decoder, e.g. "ResNetLSTM"
    encoder: str = ""  # captioners: the zoo name of their encoder's family
    decoder: str = ""  # captioners: "LSTM", "GRU", "Transformer"
    source: str = "nasforge"  # "nasforge" or "lemur:<file name>"
    code_md5: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. best accuracy from LEMUR stat


@dataclass
class KnowledgeTreeRecord:
    """A stored design-knowledge tree (the JSON document of search_core.knowledge)."""

    name: str
    document: dict[str, Any]
    updated_at: float = field(default_factory=now)


@dataclass
class Page:
    """One page of a listing; next_token is empty on the last page."""

    items: list
    next_token: str = ""
