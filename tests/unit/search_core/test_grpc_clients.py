"""How search_core reads its dependencies' status codes: down (pause), refused (our bug,
infra_error), or the candidate's own outcome (a prompt over the model's context)."""

import grpc
import pytest

from nasforge.common.v1 import common_pb2
from nasforge.llm_gateway.v1 import llm_gateway_pb2
from nasforge.sandbox_runner.v1 import sandbox_runner_pb2
from netapi.outcomes import Outcome
from netapi.tasks import default_spec
from search_core.grpc_clients import GrpcServices, _raise_for
from search_core.services import DependencyDown, DependencyRefused, PromptRequest, PromptTooLong

REFUSAL = "the prompt (about 9120 tokens) plus max_new_tokens (512) is over model m's limit"


def _error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def test_the_gateways_out_of_range_is_the_candidates_prompt_too_long():
    with pytest.raises(PromptTooLong) as refused:
        _raise_for("llm_gateway", _error(grpc.StatusCode.OUT_OF_RANGE, REFUSAL))
    assert str(refused.value) == REFUSAL  # the gateway's message, as it said it


@pytest.mark.parametrize(
    ("service", "code", "raised"),
    [
        ("llm_gateway", grpc.StatusCode.INVALID_ARGUMENT, DependencyRefused),
        ("sandbox_runner", grpc.StatusCode.OUT_OF_RANGE, DependencyRefused),
        ("llm_gateway", grpc.StatusCode.UNAVAILABLE, DependencyDown),
    ],
)
def test_other_refusals_stay_ours_and_an_outage_pauses(service, code, raised):
    with pytest.raises(raised):
        _raise_for(service, _error(code, "details"))


class _Stub:
    """Answers every call with one response."""

    def __init__(self, response) -> None:
        self.response = response

    async def __call__(self, request):
        return self.response


def _services(**stubs) -> GrpcServices:
    services = GrpcServices(
        gateway_target="localhost:1",
        sandbox_target="localhost:1",
        trainer_target="localhost:1",
        token=None,
        tls=None,
    )
    for name, stub in stubs.items():
        setattr(services, name, stub)
    return services


WARNING = common_pb2.Finding(
    rule="criterion-for-criteria",
    outcome=common_pb2.OUTCOME_SUCCESS,
    stage=common_pb2.STAGE_STATIC,
    line=9,
    message="the Net API names it criteria; criterion was used",
)


async def test_the_sandboxs_warnings_stay_apart_from_its_findings():
    response = sandbox_runner_pb2.CheckCandidateResponse(
        outcome=common_pb2.OUTCOME_SUCCESS, warnings=[WARNING]
    )
    sandbox = type("Sandbox", (), {"CheckCandidate": _Stub(response)})()
    services = _services(_sandbox=sandbox)
    verdict = await services.check(
        "code", default_spec("img-classification"), candidate_id="c", parameter_budget=1
    )
    await services.close()
    assert verdict.outcome is Outcome.SUCCESS and verdict.findings == ()
    [warning] = verdict.warnings
    assert warning.is_warning and (warning.rule, warning.line) == ("criterion-for-criteria", 9)


async def test_the_gateways_static_warnings_reach_the_generation():
    response = llm_gateway_pb2.GenerateResponse(
        analysis=llm_gateway_pb2.AnswerAnalysis(
            content="code", outcome=common_pb2.OUTCOME_SUCCESS, warnings=[WARNING]
        )
    )
    gateway = type("Gateway", (), {"Generate": _Stub(response)})()
    services = _services(_gateway=gateway)
    generation = await services.generate(
        PromptRequest("t"),
        default_spec("img-classification"),
        model="m",
        max_new_tokens=1,
        temperature=0.0,
        seed=0,
    )
    await services.close()
    assert generation.outcome is Outcome.SUCCESS and generation.findings == ()
    assert [w.rule for w in generation.warnings] == ["criterion-for-criteria"]
