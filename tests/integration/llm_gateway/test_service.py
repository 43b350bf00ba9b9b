"""LlmGatewayService end to end: real gRPC, the real TGI client, and the embedded 0.5B model.

The model answers greedily and briefly; what is asserted is what the gateway adds: token
counts, finish reasons, analysis, prompts, metrics, and the wire contract.
"""

import json

import grpc
import pytest

from llm_gateway.prompts.library import BUILTIN_DIR
from nasforge.common.v1 import common_pb2
from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from tests.integration.llm_gateway.conftest import model

HELLO = [pb.ChatMessage(role="user", content="Say hello in five words.")]
SMALL_CODE = """import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.fc = nn.Linear(in_shape[1], out_shape[0])
"""


@pytest.fixture
async def gateway(serve_gateway, embedded_url):
    return await serve_gateway([model("qwen-0.5b", embedded_url, backend="embedded")])


def params(tokens: int = 8, **fields) -> pb.GenerationParameters:
    return pb.GenerationParameters(max_new_tokens=tokens, seed=1, **fields)


async def test_generate_answers_with_counts_and_timings(gateway):
    reply = await gateway.stub.Generate(
        pb.GenerateRequest(model="qwen-0.5b", messages=HELLO, parameters=params())
    )
    assert reply.text and reply.model == "qwen-0.5b"
    assert reply.finish_reason in (pb.FINISH_REASON_EOS, pb.FINISH_REASON_LENGTH)
    assert 1 <= reply.generated_tokens <= 8
    assert reply.prompt_tokens == 14 and not reply.prompt_tokens_estimated  # TGI's prefill
    assert reply.upstream_attempts == 1
    assert 0 < reply.upstream_latency_ms <= reply.wall_time_ms
    assert reply.analysis.answer_kind == pb.ANSWER_KIND_TEXT
    assert reply.analysis.outcome == common_pb2.OUTCOME_SUCCESS
    assert (
        gateway.metric("nasforge_gateway_upstream_requests_total", model="qwen-0.5b", result="ok")
        == 1
    )
    assert (
        gateway.metric("nasforge_gateway_generated_tokens_total", model="qwen-0.5b")
        == reply.generated_tokens
    )
    assert gateway.metric("nasforge_gateway_prompt_tokens_total", model="qwen-0.5b") == 14


async def test_stream_sends_tokens_then_a_summary(gateway):
    unary = await gateway.stub.Generate(
        pb.GenerateRequest(model="qwen-0.5b", messages=HELLO, parameters=params(6))
    )
    pieces = [
        piece
        async for piece in gateway.stub.GenerateStream(
            pb.GenerateStreamRequest(model="qwen-0.5b", messages=HELLO, parameters=params(6))
        )
    ]
    *tokens, last = pieces
    assert "".join(piece.text for piece in tokens) == last.full_text == unary.text
    assert [piece.index for piece in tokens] == list(range(len(tokens)))
    assert last.finish_reason == unary.finish_reason
    assert last.generated_tokens == unary.generated_tokens
    assert last.model == "qwen-0.5b" and last.prompt_tokens_estimated
    assert last.analysis.outcome == common_pb2.OUTCOME_SUCCESS


async def test_a_json_constraint_reaches_the_model(gateway):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    reply = await gateway.stub.Generate(
        pb.GenerateRequest(
            model="qwen-0.5b",
            messages=[pb.ChatMessage(role="user", content="What is 2 + 3? Answer in JSON.")],
            parameters=params(16),
            answer_kind=pb.ANSWER_KIND_JSON,
            constraint=pb.OutputConstraint(json_schema=json.dumps(schema)),
        )
    )
    assert reply.analysis.outcome == common_pb2.OUTCOME_SUCCESS, reply.text
    assert isinstance(json.loads(reply.analysis.content)["answer"], int)


async def test_a_repair_prompt_from_the_library_is_rendered_and_its_answer_analysed(gateway):
    reply = await gateway.stub.Generate(
        pb.GenerateRequest(
            model="qwen-0.5b",
            prompt=pb.PromptSelection(
                name="repair",
                variables={
                    "code": SMALL_CODE,
                    "error": "api_noncompliance: Net has no method train_setup, learn or forward",
                },
            ),
            parameters=params(24),
        )
    )
    assert reply.prompt_id == "repair@v1"
    assert reply.prompt_tokens > 300  # the rendered template, not just the variables
    analysis = reply.analysis
    assert analysis.answer_kind == pb.ANSWER_KIND_NET_CODE
    # 24 tokens cannot hold a whole module: the cut must be seen, inside prose or code.
    assert reply.finish_reason == pb.FINISH_REASON_LENGTH
    assert analysis.outcome == common_pb2.OUTCOME_TRUNCATED, reply.text
    assert analysis.findings[0].rule == "truncated-answer"
    assert analysis.content in reply.text
    failures = gateway.metric(
        "nasforge_gateway_extraction_failures_total", model="qwen-0.5b", reason="truncated"
    )
    assert failures == 1


async def test_list_models_and_prompts(gateway):
    models = (await gateway.stub.ListModels(pb.ListModelsRequest())).models
    assert [(m.name, m.backend, m.chat_template) for m in models] == [
        ("qwen-0.5b", "embedded", "chatml")
    ]
    assert models[0].max_new_tokens_limit == 256 and models[0].supports_constraints
    prompts = (await gateway.stub.ListPrompts(pb.ListPromptsRequest())).prompts
    by_name = {prompt.name: prompt for prompt in prompts}
    assert len(by_name) == len(list(BUILTIN_DIR.glob("*.toml")))  # every shipped template
    caption = by_name["nn_caption_generate"]
    assert caption.version == "v1" and caption.answer_kind == pb.ANSWER_KIND_NET_CODE
    assert {(v.name, v.kind, v.required) for v in caption.variables} == {
        ("baseline_code", "code", True),
        ("classification_snippets", "code_list", True),
        ("image_size", "integer", False),
    }


@pytest.mark.parametrize(
    ("request_fields", "code", "fragment"),
    [
        ({"model": ""}, grpc.StatusCode.INVALID_ARGUMENT, "model must name"),
        ({"model": "gpt-9"}, grpc.StatusCode.NOT_FOUND, "no model named 'gpt-9'"),
        ({"messages": []}, grpc.StatusCode.INVALID_ARGUMENT, "exactly one of messages and prompt"),
        (
            {"parameters": pb.GenerationParameters(max_new_tokens=100000)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "over the limit",
        ),
        (
            {"messages": [], "prompt": pb.PromptSelection(name="repair", variables={"code": "x"})},
            grpc.StatusCode.INVALID_ARGUMENT,
            "variable error is required",
        ),
        (
            {"messages": [], "prompt": pb.PromptSelection(name="nope")},
            grpc.StatusCode.NOT_FOUND,
            "no prompt template",
        ),
        (
            {"task": common_pb2.TaskSpec(task="img-detection")},
            grpc.StatusCode.INVALID_ARGUMENT,
            "unknown task",
        ),
        ({"constraint": pb.OutputConstraint()}, grpc.StatusCode.INVALID_ARGUMENT, "neither"),
    ],
)
async def test_bad_requests_are_refused_before_any_upstream_call(
    gateway, request_fields, code, fragment
):
    fields = {"model": "qwen-0.5b", "messages": HELLO, **request_fields}
    for call in (gateway.stub.Generate(pb.GenerateRequest(**fields)),):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert error.value.code() == code
        assert fragment in error.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        async for _ in gateway.stub.GenerateStream(pb.GenerateStreamRequest(**fields)):
            pass
    assert error.value.code() == code
    total = sum(
        gateway.metric("nasforge_gateway_upstream_requests_total", model="qwen-0.5b", result=r)
        for r in ("ok", "unavailable", "rejected")
    )
    assert total == 0


async def test_the_model_servers_own_refusal_is_invalid_argument(gateway):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await gateway.stub.Generate(
            pb.GenerateRequest(
                model="qwen-0.5b",
                messages=HELLO,
                parameters=params(4),
                # Python compiles it; the embedded server cannot make a grammar of a lookahead.
                constraint=pb.OutputConstraint(regex="(?=a)[a-z]+"),
            )
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "grammar regex cannot be used: lookarounds" in error.value.details()
    assert (
        gateway.metric(
            "nasforge_gateway_upstream_requests_total", model="qwen-0.5b", result="rejected"
        )
        == 1
    )
