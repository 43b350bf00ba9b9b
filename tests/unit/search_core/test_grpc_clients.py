"""How search_core reads its dependencies' status codes: down (pause), refused (our bug,
infra_error), or the candidate's own outcome (a prompt over the model's context)."""

import grpc
import pytest

from search_core.grpc_clients import _raise_for
from search_core.services import DependencyDown, DependencyRefused, PromptTooLong

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
