"""The OpenAI-compatible backend, against the embedded server's /v1/chat/completions."""

import json

import grpc
import pytest

from nasforge.common.v1 import common_pb2
from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from tests.integration.llm_gateway.conftest import dead_url, model

HELLO = [pb.ChatMessage(role="user", content="Say hello in five words.")]
PARAMS = pb.GenerationParameters(max_new_tokens=6, temperature=0.0, seed=3)


@pytest.fixture
async def gateway(serve_gateway, embedded_url):
    return await serve_gateway(
        [model("chat", embedded_url, backend="openai"), model("gone", dead_url(), backend="openai")]
    )


async def test_unary_and_streamed_chat_completions_agree(gateway):
    reply = await gateway.stub.Generate(
        pb.GenerateRequest(model="chat", messages=HELLO, parameters=PARAMS)
    )
    assert reply.text
    assert not reply.prompt_tokens_estimated and reply.prompt_tokens > 5  # the server's usage
    assert 1 <= reply.generated_tokens <= 6
    pieces = [
        piece
        async for piece in gateway.stub.GenerateStream(
            pb.GenerateStreamRequest(model="chat", messages=HELLO, parameters=PARAMS)
        )
    ]
    *tokens, last = pieces
    assert "".join(piece.text for piece in tokens) == last.full_text == reply.text
    assert last.prompt_tokens == reply.prompt_tokens and not last.prompt_tokens_estimated
    assert last.finish_reason == reply.finish_reason
    models = (await gateway.stub.ListModels(pb.ListModelsRequest())).models
    assert {(m.name, m.chat_template) for m in models} == {("chat", "server"), ("gone", "server")}


async def test_a_json_schema_goes_as_response_format(gateway):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    reply = await gateway.stub.Generate(
        pb.GenerateRequest(
            model="chat",
            messages=[pb.ChatMessage(role="user", content="What is 2 + 3? Answer in JSON.")],
            parameters=pb.GenerationParameters(max_new_tokens=16, temperature=0.0),
            answer_kind=pb.ANSWER_KIND_JSON,
            constraint=pb.OutputConstraint(json_schema=json.dumps(schema)),
        )
    )
    assert reply.analysis.outcome == common_pb2.OUTCOME_SUCCESS, reply.text
    assert isinstance(json.loads(reply.analysis.content)["answer"], int)


async def test_a_dead_openai_server_is_unavailable(gateway):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await gateway.stub.Generate(
            pb.GenerateRequest(model="gone", messages=HELLO, parameters=PARAMS)
        )
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await gateway.stub.Generate(
            pb.GenerateRequest(
                model="chat", messages=HELLO, constraint=pb.OutputConstraint(regex="a+")
            )
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
