"""The SandboxService servicer: pb -> domain, await the checker, domain -> pb."""

from nasforge.common.v1 import common_pb2
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2 as pb
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2_grpc as pb_grpc
from netapi.outcomes import MAX_CANDIDATE_BYTES
from rpc.convert import finding_to_pb, outcome_to_pb, stage_to_pb, task_spec_from_pb
from rpc.errors import InvalidArgument
from rpc.server import ServiceBinding, bind
from rpc.tenant import current_tenant
from sandbox_runner.core import SandboxChecker
from sandbox_runner.verdicts import CheckResult

MAX_CANDIDATE_ID_CHARS = 200


def _tensor_shapes(value: list) -> list[pb.TensorShape]:
    """Trace shapes are a list of shapes, or one shape; nested tuples are flattened."""
    if value and all(isinstance(dim, int) for dim in value):
        return [pb.TensorShape(dims=value)]
    shapes: list[pb.TensorShape] = []
    for item in value:
        if isinstance(item, list):
            shapes.extend(_tensor_shapes(item))
    return shapes


def _layer_trace(entry: dict) -> pb.LayerTrace:
    return pb.LayerTrace(
        module=str(entry.get("module", "")),
        type=str(entry.get("type", "")),
        input_shapes=_tensor_shapes(entry.get("input_shapes", [])),
        output_shapes=_tensor_shapes(entry.get("output_shapes", [])),
    )


def result_to_pb(result: CheckResult) -> pb.CheckCandidateResponse:
    response = pb.CheckCandidateResponse(
        outcome=outcome_to_pb(result.outcome),
        stage=stage_to_pb(result.stage),
        findings=[finding_to_pb(finding) for finding in result.findings],
        warnings=[finding_to_pb(finding) for finding in result.warnings],
        scores=common_pb2.Scores(
            parameter_count=result.parameter_count,
            flops=result.flops,
            peak_memory_bytes=result.peak_memory_bytes,
        ),
        output_shape=result.output_shape,
        wall_time_ms=int(result.wall_time_ms),
        shape_trace=[_layer_trace(entry) for entry in result.shape_trace],
        unused_parameters=result.unused_parameters,
        stage_durations_ms=result.durations_ms,
    )
    if result.error_message:
        response.error.CopyFrom(
            common_pb2.ErrorDetail(
                stage=stage_to_pb(result.stage),
                type=result.error_type,
                message=result.error_message,
            )
        )
    return response


class SandboxServicer(pb_grpc.SandboxServiceServicer):
    """Checks one candidate per call for the caller's tenant."""

    def __init__(self, checker: SandboxChecker) -> None:
        self._checker = checker

    async def CheckCandidate(self, request, context):
        if not request.code.strip():
            raise InvalidArgument("code is empty")
        if len(request.code.encode("utf-8")) > MAX_CANDIDATE_BYTES:
            raise InvalidArgument(f"code is over {MAX_CANDIDATE_BYTES} bytes")
        if len(request.candidate_id) > MAX_CANDIDATE_ID_CHARS:
            raise InvalidArgument("candidate_id is too long")
        if request.parameter_budget < 0 or request.timeout_ms < 0:
            raise InvalidArgument("parameter_budget and timeout_ms must not be negative")
        spec = task_spec_from_pb(request.task)
        result = await self._checker.check(
            request.code,
            spec,
            tenant=current_tenant(),
            parameter_budget=request.parameter_budget or None,
            timeout_seconds=request.timeout_ms / 1000 if request.timeout_ms else None,
            candidate_id=request.candidate_id,
        )
        return result_to_pb(result)


def sandbox_binding(checker: SandboxChecker) -> ServiceBinding:
    return bind(
        pb_grpc.add_SandboxServiceServicer_to_server,
        SandboxServicer(checker),
        pb.DESCRIPTOR.services_by_name["SandboxService"],
    )
