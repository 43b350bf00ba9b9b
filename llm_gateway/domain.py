"""The gateway's domain types: requests, sampling, answers and stream events (no transport)."""

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum

from netapi.findings import Finding
from netapi.outcomes import Outcome
from netapi.tasks import TaskSpec


class FinishReason(StrEnum):
    """Why generation stopped; the values are TGI's spelling."""

    EOS = "eos_token"
    LENGTH = "length"
    STOP_SEQUENCE = "stop_sequence"


class AnswerKind(StrEnum):
    """What an answer must contain, which decides extraction and checks."""

    TEXT = "text"
    NET_CODE = "net_code"
    JSON = "json"


class HallucinationKind(StrEnum):
    """The kinds of names that do not exist in the sandbox's environment (a metric label)."""

    MODULE = "module"
    ATTRIBUTE = "attribute"
    KEYWORD = "keyword"


@dataclass(frozen=True)
class ChatTurn:
    """One turn of a conversation."""

    role: str  # system, user or assistant
    content: str


@dataclass(frozen=True)
class Sampling:
    """Length and sampling of one generation, validated and with the model's defaults applied."""

    max_new_tokens: int
    temperature: float | None = None  # None or 0: greedy
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Constraint:
    """A grammar on the answer: a JSON schema (as text) or a regular expression."""

    kind: str  # "json" or "regex"
    value: str


@dataclass(frozen=True)
class PromptSelection:
    """A template of the prompt library and its variable values."""

    name: str
    version: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    list_variables: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationRequest:
    """What a caller asks for: exactly one of messages and prompt."""

    model: str
    messages: tuple[ChatTurn, ...] = ()
    prompt: PromptSelection | None = None
    max_new_tokens: int = 0  # 0: the model's default
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    answer_kind: AnswerKind | None = None  # None: the template's, or TEXT
    task: TaskSpec | None = None  # None: the template's task, or img-classification
    constraint: Constraint | None = None


@dataclass(frozen=True)
class UpstreamRequest:
    """What is sent to a backend: the conversation, rendered or not, and the sampling."""

    messages: tuple[ChatTurn, ...]
    prompt_text: str  # the conversation rendered with the model's chat template ("" if none)
    sampling: Sampling
    constraint: Constraint | None = None

    @property
    def prompt_sha256(self) -> str:
        """SHA-256 (hex) of the conversation as sent, in one serialisation for every backend:
        the UTF-8 bytes of ``{"messages":[{"content":..,"role":..},..],"prompt_text":..}``
        with sorted keys, no spaces (separators "," and ":") and non-ASCII kept as is. The
        messages are the turns after fitting and defusing; prompt_text is the rendered prompt a
        TGI-protocol server gets, "" for chat servers (which render it themselves)."""
        canonical = json.dumps(
            {
                "messages": [{"role": t.role, "content": t.content} for t in self.messages],
                "prompt_text": self.prompt_text,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class UpstreamAnswer:
    """A complete answer from a backend."""

    text: str
    finish_reason: FinishReason
    generated_tokens: int
    prompt_tokens: int | None  # None when the backend did not count them


@dataclass(frozen=True)
class ServedModel:
    """What a model server says about the model it serves (empty where it says nothing)."""

    served_model: str = ""  # e.g. the Hugging Face repository id
    revision: str = ""  # a commit or tag
    file_sha256: str = ""  # the weights file's digest (the embedded server's GGUF)


@dataclass(frozen=True)
class ModelIdentity:
    """The model behind an answer: configured name, backend kind, and what its server reports."""

    name: str
    backend: str
    served: ServedModel = ServedModel()


@dataclass(frozen=True)
class TokenPiece:
    """One streamed token's text (special tokens are left out)."""

    text: str
    index: int


@dataclass(frozen=True)
class HallucinatedName:
    """A name the code uses that does not exist in the sandbox image."""

    kind: HallucinationKind
    name: str
    line: int


@dataclass(frozen=True)
class Analysis:
    """The extracted content of an answer and its static checks."""

    answer_kind: AnswerKind
    outcome: Outcome
    content: str = ""
    findings: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()  # of the static checks; never the outcome
    hallucinated_names: tuple[HallucinatedName, ...] = ()
    reasoning: str = ""
    extraction_rule: str = ""


@dataclass(frozen=True)
class Generation:
    """A finished generation as the gateway answers it."""

    model: str
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    prompt_tokens_estimated: bool
    generated_tokens: int
    analysis: Analysis
    prompt_id: str
    wall_time_ms: int
    upstream_latency_ms: int
    upstream_attempts: int
    # What fitted the library prompt to the context (llm_gateway.fitting), e.g.
    # ("comments-stripped", "snippets-cut:4"); empty when the prompt was sent as rendered.
    prompt_fitting: tuple[str, ...] = ()
    prompt_sha256: str = ""  # UpstreamRequest.prompt_sha256 of what was sent
    model_identity: ModelIdentity | None = None
    parameters_used: Sampling | None = None  # after the model's defaults and fitting


@dataclass(frozen=True)
class ModelDescription:
    """A configured model as ListModels shows it."""

    name: str
    backend: str
    max_total_tokens: int
    default_max_new_tokens: int
    max_new_tokens_limit: int
    chat_template: str
    supports_constraints: bool
