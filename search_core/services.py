"""The three services a search depends on, as the engine sees them, and their gRPC clients.

The engine never sees a pb2 message or a grpc status: a dependency that is down or
overloaded raises DependencyDown (the search pauses and retries); anything else comes
back as an outcome of the candidate.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

from nasforge.common.v1 import common_pb2
from nasforge.llm_gateway.v1 import llm_gateway_pb2, llm_gateway_pb2_grpc
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2, sandbox_runner_pb2_grpc
from nasforge.trainer_svc.v1 import trainer_svc_pb2, trainer_svc_pb2_grpc
from netapi.outcomes import Outcome
from netapi.tasks import TaskSpec
from rpc.client import ClientTLS, open_channel
from rpc.convert import outcome_from_pb, task_spec_to_pb

# Codes that mean "the dependency cannot serve now": pause and retry, never blame the model.
_TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    }
)


class DependencyDown(Exception):
    """A dependency is unreachable or overloaded; the search pauses until it answers again."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail


class DependencyRefused(Exception):
    """A dependency refused a request as invalid: our bug, recorded as infra_error."""


@dataclass(frozen=True)
class PromptRequest:
    """A prompt of the gateway's library and the values of its variables."""

    template: str
    variables: dict[str, str] = field(default_factory=dict)
    list_variables: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Generation:
    """One LLM answer after the gateway's extraction and static checks."""

    code: str
    outcome: Outcome  # SUCCESS when code was extracted and passed the static checks
    error_message: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    generated_tokens: int = 0
    wall_time_ms: int = 0


@dataclass
class CheckVerdict:
    """The sandbox's verdict on one candidate."""

    outcome: Outcome
    stage: str = ""
    error_type: str = ""
    error_message: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)
    parameter_count: int | None = None
    flops: int | None = None
    shape_trace: list[dict[str, Any]] = field(default_factory=list)
    output_shape: list[int] = field(default_factory=list)


@dataclass
class EpochReport:
    epoch: int
    train_loss: float
    validation_metric: float
    samples_per_second: float
    wall_time_ms: int


@dataclass
class TrainingResult:
    outcome: Outcome
    score: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    error_type: str = ""
    error_message: str = ""


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


class Services(Protocol):
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
        self, request: TrainingRequest, on_epoch: Callable[[EpochReport], Awaitable[None]]
    ) -> TrainingResult: ...


def _finding(message: common_pb2.Finding) -> dict[str, Any]:
    return {
        "rule": message.rule,
        "outcome": outcome_from_pb(message.outcome).value if message.outcome else "",
        "line": message.line,
        "message": message.message,
    }


def _raise_for(service: str, error: grpc.aio.AioRpcError) -> None:
    if error.code() in _TRANSIENT:
        raise DependencyDown(service, f"{error.code().name}: {error.details()}") from error
    raise DependencyRefused(f"{service} refused the call: {error.code().name}: {error.details()}")


def _scores(message: common_pb2.Scores) -> dict[str, float]:
    return {field_desc.name: float(value) for field_desc, value in message.ListFields()}


class GrpcServices:
    """Services reached over gRPC with a service token (and mutual TLS where ``tls`` has a
    client certificate); the acting tenant rides in metadata."""

    def __init__(
        self,
        *,
        gateway_target: str,
        sandbox_target: str,
        trainer_target: str,
        token: str | None,
        tls: ClientTLS | None,
        call_timeout_seconds: float = 600.0,
    ) -> None:
        self._channels = [
            open_channel(target, token=token, tls=tls, default_timeout_seconds=call_timeout_seconds)
            for target in (gateway_target, sandbox_target, trainer_target)
        ]
        gateway, sandbox, trainer = self._channels
        self._gateway = llm_gateway_pb2_grpc.LlmGatewayServiceStub(gateway)
        self._sandbox = sandbox_runner_pb2_grpc.SandboxServiceStub(sandbox)
        self._trainer = trainer_svc_pb2_grpc.TrainerServiceStub(trainer)
        self._train_timeout = None  # training deadlines come from the job budget

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def generate(
        self,
        prompt: PromptRequest,
        spec: TaskSpec,
        *,
        model: str,
        max_new_tokens: int,
        temperature: float,
        seed: int,
    ) -> Generation:
        request = llm_gateway_pb2.GenerateRequest(
            model=model,
            prompt=llm_gateway_pb2.PromptSelection(
                name=prompt.template,
                variables=prompt.variables,
                list_variables={
                    key: llm_gateway_pb2.TextList(items=items)
                    for key, items in prompt.list_variables.items()
                },
            ),
            parameters=llm_gateway_pb2.GenerationParameters(
                max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
            ),
            task=task_spec_to_pb(spec),
        )
        try:
            response = await self._gateway.Generate(request)
        except grpc.aio.AioRpcError as error:
            _raise_for("llm_gateway", error)
        analysis = response.analysis
        findings = [_finding(f) for f in analysis.findings]
        outcome = outcome_from_pb(analysis.outcome) if analysis.outcome else Outcome.NO_CODE
        return Generation(
            code=analysis.content,
            outcome=outcome,
            error_message="; ".join(f["message"] for f in findings[:3]),
            findings=findings,
            model=response.model,
            generated_tokens=response.generated_tokens,
            wall_time_ms=response.wall_time_ms,
        )

    async def check(
        self, code: str, spec: TaskSpec, *, candidate_id: str, parameter_budget: int
    ) -> CheckVerdict:
        request = sandbox_runner_pb2.CheckCandidateRequest(
            code=code,
            task=task_spec_to_pb(spec),
            parameter_budget=parameter_budget,
            candidate_id=candidate_id,
        )
        try:
            response = await self._sandbox.CheckCandidate(request)
        except grpc.aio.AioRpcError as error:
            _raise_for("sandbox_runner", error)
        scores = response.scores
        return CheckVerdict(
            outcome=outcome_from_pb(response.outcome),
            stage=common_pb2.Stage.Name(response.stage).removeprefix("STAGE_").lower(),
            error_type=response.error.type,
            error_message=response.error.message,
            findings=[_finding(f) for f in response.findings],
            parameter_count=scores.parameter_count if scores.HasField("parameter_count") else None,
            flops=scores.flops if scores.HasField("flops") else None,
            shape_trace=[
                {
                    "module": layer.module,
                    "type": layer.type,
                    "input_shapes": [list(s.dims) for s in layer.input_shapes],
                    "output_shapes": [list(s.dims) for s in layer.output_shapes],
                }
                for layer in response.shape_trace
            ],
            output_shape=list(response.output_shape),
        )

    async def train(
        self, request: TrainingRequest, on_epoch: Callable[[EpochReport], Awaitable[None]]
    ) -> TrainingResult:
        message = trainer_svc_pb2.TrainRequest(
            code=request.code,
            task=task_spec_to_pb(request.spec),
            epochs=request.epochs,
            seed=request.seed,
            epoch_time_budget_ms=request.epoch_time_budget_ms,
            job_time_budget_ms=request.job_time_budget_ms,
            candidate_id=request.candidate_id,
            train_samples=request.train_samples,
            validation_samples=request.validation_samples,
            test_samples=request.test_samples,
        )
        # The stream lives as long as the job's own budget plus time to queue and report.
        timeout = request.job_time_budget_ms / 1000 + 600
        try:
            async for event in self._trainer.Train(message, timeout=timeout):
                kind = event.WhichOneof("event")
                if kind == "epoch":
                    epoch = event.epoch
                    await on_epoch(
                        EpochReport(
                            epoch.epoch,
                            epoch.train_loss,
                            epoch.validation_metric,
                            epoch.samples_per_second,
                            epoch.wall_time_ms,
                        )
                    )
                elif kind == "finished":
                    return _training_result(event.finished)
        except grpc.aio.AioRpcError as error:
            _raise_for("trainer_svc", error)
        raise DependencyDown("trainer_svc", "the training stream ended without a result")


def _training_result(finished: trainer_svc_pb2.JobFinished) -> TrainingResult:
    scores = _scores(finished.scores)
    score = scores.get("accuracy", scores.get("bleu4_corpus"))
    return TrainingResult(
        outcome=outcome_from_pb(finished.outcome),
        score=score,
        scores=scores,
        error_type=finished.error.type,
        error_message=finished.error.message,
    )
