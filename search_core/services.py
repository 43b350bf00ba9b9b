"""What a search needs from the three services, as transport-free interfaces and values."""

# The engine never sees a pb2 message or a grpc status: a dependency that is down or
# overloaded raises DependencyDown (the search pauses and retries); a prompt over the model's
# context raises PromptTooLong (the candidate ends prompt_too_long); anything else comes
# back as an outcome of the candidate. search_core.grpc_clients implements Services.

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from netapi.datasets import DatasetRecord
from netapi.findings import Finding
from netapi.outcomes import Outcome, Stage
from netapi.tasks import TaskSpec
from search_core.domain import EpochMetrics

Shape = tuple[int, ...]


class DependencyDown(Exception):
    """A dependency is unreachable or overloaded; the search pauses until it answers again."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail


class DependencyRefused(Exception):
    """A dependency refused a request as invalid: our bug, recorded as infra_error."""


class PromptTooLong(Exception):
    """The gateway refused the prompt as over the model's context (OUT_OF_RANGE): the
    candidate's outcome, prompt_too_long (an attempt of the method), not a dependency fault.
    The message is the gateway's."""


@dataclass(frozen=True)
class PromptRequest:
    """A prompt of the gateway's library and the values of its variables."""

    template: str
    variables: dict[str, str] = field(default_factory=dict)
    list_variables: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelIdentity:
    """The model behind an answer, as the gateway names it: enough to ask it again."""

    name: str = ""  # the gateway's configured model name
    backend: str = ""  # "tgi", "openai" (vLLM, SGLang, ...) or "embedded"
    served_model: str = ""  # e.g. the Hugging Face repository id
    revision: str = ""  # a commit or tag, when the server reports one
    file_sha256: str = ""  # the embedded backend's GGUF file


@dataclass(frozen=True)
class SamplingSettings:
    """Sampling and length settings of one answer; None where unset (the backend's default)."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Generation:
    """One LLM answer after the gateway's extraction and static checks."""

    code: str
    outcome: Outcome  # SUCCESS when code was extracted and passed the static checks
    error_message: str = ""
    findings: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()  # of the static checks; never the outcome
    model: str = ""
    prompt_tokens: int = 0
    generated_tokens: int = 0
    wall_time_ms: int = 0
    # Where it came from, for the candidate's record (search_core.generation.provenance); each
    # empty where the gateway did not say.
    prompt_id: str = ""  # the template that rendered the prompt, "name@version"
    prompt_sha256: str = ""  # of the conversation as sent to the backend
    raw_text: str = ""  # the answer as the model wrote it, before extraction
    reasoning: str = ""  # the reasoning the gateway split off the answer
    model_identity: ModelIdentity = field(default_factory=ModelIdentity)
    parameters_used: SamplingSettings = field(default_factory=SamplingSettings)


@dataclass(frozen=True)
class LayerShapes:
    """The shapes one submodule saw during the sandbox's forward pass."""

    module: str
    type: str
    input_shapes: tuple[Shape, ...] = ()
    output_shapes: tuple[Shape, ...] = ()


@dataclass(frozen=True)
class CheckVerdict:
    """The sandbox's verdict on one candidate."""

    outcome: Outcome
    stage: Stage | None = None  # the stage that decided the outcome; None when unknown
    error_type: str = ""
    error_message: str = ""
    findings: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()  # recorded on the candidate, never its outcome
    parameter_count: int | None = None
    flops: int | None = None
    shape_trace: tuple[LayerShapes, ...] = ()
    output_shape: Shape = ()
    # Parameters that got no gradient in the check's training step (self-reported by the
    # candidate's container: a quality signal, never a score).
    unused_parameters: tuple[str, ...] = ()

    @property
    def stage_name(self) -> str:
        """The stage as stored with a candidate ("" when unknown)."""
        return self.stage.value if self.stage is not None else ""


@dataclass(frozen=True)
class TrainingResult:
    """How a training job ended and every score it measured (by Scores field name), and what
    the trainer kept of it: the job's best-epoch weights and what they were trained in."""

    outcome: Outcome
    scores: Mapping[str, float] = field(default_factory=dict)
    error_type: str = ""
    error_message: str = ""
    job_id: str = ""  # the trainer's job: read_weights(job_id) serves its weights
    best_epoch: int = 0  # 1-based; 0 when no epoch was scored
    weights_sha256: str = ""  # empty when the trainer kept no weights
    weights_size_bytes: int = 0
    runtime_image_digest: str = ""  # the image the job ran in ("sha256:...")
    dataset_digest: str = ""  # of the prepared files it trained and was scored on
    # Why a successful job kept no weights (e.g. the file its container left was not a plain
    # state_dict): a note on the weights, never an error of the candidate.
    weights_note: str = ""


@dataclass(frozen=True)
class WeightsChunk:
    """The next bytes of a weights file; the first chunk also names its size and sha256."""

    data: bytes
    size_bytes: int = 0
    sha256: str = ""


class WeightsGone(LookupError):
    """The trainer has no weights for the job: never kept, or removed by its retention
    setting. The message is the trainer's, which says which."""


@dataclass(frozen=True)
class TrainingRequest:
    code: str
    spec: TaskSpec
    epochs: int
    seed: int
    candidate_id: str
    train_samples: int
    validation_samples: int
    test_samples: int
    epoch_time_budget_ms: int
    job_time_budget_ms: int


class Datasets(Protocol):
    """The trainer's datasets, as search submission and the public API reach them.

    ``dataset`` raises DatasetUnknown naming the known ones; ``add_dataset`` raises
    DependencyRefused with the trainer's reason when the files cannot be registered.
    """

    async def dataset(self, name: str) -> DatasetRecord: ...

    async def datasets(self) -> list[DatasetRecord]: ...

    async def add_dataset(
        self, name: str, format_name: str, path: str, *, download: bool, replace: bool
    ) -> DatasetRecord: ...


class DatasetUnknown(LookupError):
    """No dataset of that name; the message names the known ones."""


class Services(Datasets, Protocol):
    """The gateway, the sandbox and the trainer as one search sees them."""

    async def generate(
        self,
        prompt: PromptRequest,
        spec: TaskSpec,
        *,
        model: str,
        max_new_tokens: int,
        temperature: float,
        seed: int,
    ) -> Generation: ...

    async def check(
        self, code: str, spec: TaskSpec, *, candidate_id: str, parameter_budget: int
    ) -> CheckVerdict: ...

    async def train(
        self, request: TrainingRequest, on_epoch: Callable[[EpochMetrics], Awaitable[None]]
    ) -> TrainingResult: ...

    def read_weights(self, job_id: str) -> AsyncIterator[WeightsChunk]:
        """The job's kept weights in order, for the acting tenant; WeightsGone when the
        trainer has none (DependencyDown when it cannot answer)."""
        ...
