"""The Services of search_core.services, reached over gRPC with the generated stubs."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc

from nasforge.common.v1 import common_pb2
from nasforge.llm_gateway.v1 import llm_gateway_pb2, llm_gateway_pb2_grpc
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2, sandbox_runner_pb2_grpc
from nasforge.trainer_svc.v1 import trainer_svc_pb2, trainer_svc_pb2_grpc
from netapi.datasets import DatasetRecord
from netapi.outcomes import Outcome
from netapi.tasks import TaskSpec
from rpc.client import ClientTLS, open_channel
from rpc.convert import (
    dataset_from_pb,
    finding_from_pb,
    outcome_from_pb,
    scores_from_pb,
    stage_from_pb,
    task_spec_to_pb,
    warning_from_pb,
)
from rpc.errors import InvalidArgument, Unavailable
from search_core.domain import EpochMetrics
from search_core.services import (
    CheckVerdict,
    DatasetUnknown,
    DependencyDown,
    DependencyRefused,
    Generation,
    LayerShapes,
    ModelIdentity,
    PromptRequest,
    PromptTooLong,
    SamplingSettings,
    TrainingRequest,
    TrainingResult,
    WeightsChunk,
    WeightsGone,
)

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

# Codes that are the candidate's own outcome, not a fault of either side: the request was
# well-formed, but the candidate's prompt is past the model's context (the gateway's message).
_CANDIDATE_OUTCOMES: dict[tuple[str, grpc.StatusCode], type[Exception]] = {
    ("llm_gateway", grpc.StatusCode.OUT_OF_RANGE): PromptTooLong,
}


def _raise_for(service: str, error: grpc.aio.AioRpcError) -> NoReturn:
    if error.code() in _TRANSIENT:
        raise DependencyDown(service, f"{error.code().name}: {error.details()}") from error
    if outcome := _CANDIDATE_OUTCOMES.get((service, error.code())):
        raise outcome(error.details()) from error
    raise DependencyRefused(f"{service} refused the call: {error.code().name}: {error.details()}")


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
        findings = tuple(finding_from_pb(f) for f in analysis.findings)
        outcome = outcome_from_pb(analysis.outcome) if analysis.outcome else Outcome.NO_CODE
        return Generation(
            code=analysis.content,
            outcome=outcome,
            error_message="; ".join(f.message for f in findings[:3]),
            findings=findings,
            warnings=tuple(warning_from_pb(f) for f in analysis.warnings),
            model=response.model,
            prompt_tokens=response.prompt_tokens,
            generated_tokens=response.generated_tokens,
            wall_time_ms=response.wall_time_ms,
            prompt_id=response.prompt_id,
            prompt_sha256=response.prompt_sha256,
            raw_text=response.text,
            reasoning=analysis.reasoning,
            model_identity=_model_identity(response.model_identity),
            parameters_used=_sampling(response.parameters_used),
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
            stage=stage_from_pb(response.stage),
            error_type=response.error.type,
            error_message=response.error.message,
            findings=tuple(finding_from_pb(f) for f in response.findings),
            warnings=tuple(warning_from_pb(f) for f in response.warnings),
            parameter_count=scores.parameter_count if scores.HasField("parameter_count") else None,
            flops=scores.flops if scores.HasField("flops") else None,
            shape_trace=tuple(
                LayerShapes(
                    module=layer.module,
                    type=layer.type,
                    input_shapes=tuple(tuple(s.dims) for s in layer.input_shapes),
                    output_shapes=tuple(tuple(s.dims) for s in layer.output_shapes),
                )
                for layer in response.shape_trace
            ),
            output_shape=tuple(response.output_shape),
            unused_parameters=tuple(response.unused_parameters),
        )

    async def train(
        self, request: TrainingRequest, on_epoch: Callable[[EpochMetrics], Awaitable[None]]
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
                    await on_epoch(_epoch_metrics(event.epoch))
                elif kind == "finished":
                    return _training_result(event.job_id, event.finished)
        except grpc.aio.AioRpcError as error:
            _raise_for("trainer_svc", error)
        raise DependencyDown("trainer_svc", "the training stream ended without a result")

    async def read_weights(self, job_id: str) -> AsyncIterator[WeightsChunk]:
        request = trainer_svc_pb2.ReadWeightsRequest(job_id=job_id)
        try:
            # A large state_dict over a slow link: the stream's deadline is generous.
            async for reply in self._trainer.ReadWeights(request, timeout=3600):
                yield WeightsChunk(reply.data, reply.size_bytes, reply.sha256)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise WeightsGone(error.details()) from error
            _raise_for("trainer_svc", error)

    async def dataset(self, name: str) -> DatasetRecord:
        request = common_pb2.GetDatasetRequest(name=name)
        response = await _dataset_call(self._trainer.GetDataset(request))
        return dataset_from_pb(response.dataset)

    async def datasets(self) -> list[DatasetRecord]:
        response = await _dataset_call(self._trainer.ListDatasets(common_pb2.ListDatasetsRequest()))
        return [dataset_from_pb(d) for d in response.datasets]

    async def add_dataset(
        self, name: str, format_name: str, path: str, *, download: bool, replace: bool
    ) -> DatasetRecord:
        request = common_pb2.AddDatasetRequest(
            name=name, format=format_name, path=path, download=download, replace=replace
        )
        # Registration reads and prepares the files: minutes for a large dataset.
        response = await _dataset_call(self._trainer.AddDataset(request, timeout=3600))
        return dataset_from_pb(response.dataset)


async def _dataset_call(call: Awaitable) -> Any:
    """A trainer dataset call: NOT_FOUND is DatasetUnknown, INVALID_ARGUMENT keeps the
    trainer's reason, a trainer that cannot answer is UNAVAILABLE."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            raise DatasetUnknown(error.details()) from error
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise InvalidArgument(error.details()) from error
        if error.code() in _TRANSIENT:
            raise Unavailable(f"trainer_svc cannot answer: {error.details()}") from error
        _raise_for("trainer_svc", error)


def _model_identity(identity: llm_gateway_pb2.ModelIdentity) -> ModelIdentity:
    return ModelIdentity(
        name=identity.name,
        backend=identity.backend,
        served_model=identity.served_model,
        revision=identity.revision,
        file_sha256=identity.file_sha256,
    )


def _sampling(parameters: llm_gateway_pb2.GenerationParameters) -> SamplingSettings:
    """The settings the gateway says it used; None where it did not say (an older gateway
    sends none: the record then keeps what search_core asked for)."""
    return SamplingSettings(
        max_new_tokens=parameters.max_new_tokens or None,
        temperature=parameters.temperature if parameters.HasField("temperature") else None,
        top_p=parameters.top_p if parameters.HasField("top_p") else None,
        seed=parameters.seed if parameters.HasField("seed") else None,
    )


def _epoch_metrics(epoch) -> EpochMetrics:
    return EpochMetrics(
        epoch.epoch,
        epoch.train_loss,
        epoch.validation_metric,
        epoch.samples_per_second,
        epoch.wall_time_ms,
    )


def _training_result(job_id: str, finished: trainer_svc_pb2.JobFinished) -> TrainingResult:
    outcome = outcome_from_pb(finished.outcome)
    failed = outcome is not Outcome.SUCCESS
    # A successful job's error can only say why its weights were not kept: a note on them.
    return TrainingResult(
        outcome=outcome,
        scores=scores_from_pb(finished.scores),
        error_type=finished.error.type if failed else "",
        error_message=finished.error.message if failed else "",
        weights_note="" if failed else finished.error.message,
        job_id=job_id,
        best_epoch=finished.best_epoch,
        weights_sha256=finished.weights_sha256,
        weights_size_bytes=finished.weights_size_bytes,
        runtime_image_digest=finished.runtime_image_digest,
        dataset_digest=finished.dataset_digest,
    )
