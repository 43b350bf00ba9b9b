"""What search_core's gateway client reads of an answer's origin, over a real gRPC server on a
loopback port: the rendered prompt's name, version and digest, the raw text, the reasoning,
the model's identity and the settings the backend was called with."""

import grpc
import pytest

from nasforge.common.v1 import common_pb2
from nasforge.llm_gateway.v1 import llm_gateway_pb2, llm_gateway_pb2_grpc
from netapi.tasks import default_spec
from search_core.grpc_clients import GrpcServices
from search_core.services import ModelIdentity, PromptRequest, SamplingSettings

RAW = "<think>a wider head</think>```python\nclass Net: ...\n```"
DIGEST = "f" * 64


class Gateway(llm_gateway_pb2_grpc.LlmGatewayServiceServicer):
    """Answers like a gateway of issue 20, or (names_origin False) like an older one."""

    def __init__(self, names_origin: bool) -> None:
        self.names_origin = names_origin
        self.requests: list[llm_gateway_pb2.GenerateRequest] = []

    async def Generate(self, request, context):
        self.requests.append(request)
        response = llm_gateway_pb2.GenerateResponse(
            text=RAW,
            model=request.model,
            analysis=llm_gateway_pb2.AnswerAnalysis(
                content="class Net: ...",
                outcome=common_pb2.OUTCOME_SUCCESS,
                reasoning="a wider head",
            ),
        )
        if self.names_origin:
            response.prompt_id = f"{request.prompt.name}@v3"
            response.prompt_sha256 = DIGEST
            response.model_identity.CopyFrom(
                llm_gateway_pb2.ModelIdentity(
                    name=request.model,
                    backend="openai",
                    served_model="Qwen/Qwen2.5-Coder-7B-Instruct",
                    revision="c03e6d3",
                )
            )
            response.parameters_used.CopyFrom(
                llm_gateway_pb2.GenerationParameters(
                    max_new_tokens=request.parameters.max_new_tokens,
                    temperature=request.parameters.temperature,
                    top_p=1.0,
                    seed=request.parameters.seed,
                )
            )
        return response


@pytest.fixture(params=[True, False], ids=["names-origin", "older-gateway"])
async def answered(request):
    gateway = Gateway(request.param)
    server = grpc.aio.server()
    llm_gateway_pb2_grpc.add_LlmGatewayServiceServicer_to_server(gateway, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    services = GrpcServices(
        gateway_target=f"127.0.0.1:{port}",
        sandbox_target=f"127.0.0.1:{port}",
        trainer_target=f"127.0.0.1:{port}",
        token=None,
        tls=None,
    )
    generation = await services.generate(
        PromptRequest("fairnad_apply_idea", {"parent_code": "x"}),
        default_spec("img-classification"),
        model="qwen-7b",
        max_new_tokens=900,
        temperature=0.5,
        seed=77,
    )
    await services.close()
    await server.stop(None)
    return gateway, generation


async def test_the_answer_names_its_prompt_text_reasoning_model_and_settings(answered):
    gateway, generation = answered
    (sent,) = gateway.requests
    assert sent.prompt.name == "fairnad_apply_idea" and sent.prompt.version == ""
    assert generation.raw_text == RAW and generation.reasoning == "a wider head"
    if not gateway.names_origin:  # the fields are empty, and nothing is made up
        assert (generation.prompt_id, generation.prompt_sha256) == ("", "")
        assert generation.model_identity == ModelIdentity()
        assert generation.parameters_used == SamplingSettings()
        return
    assert generation.prompt_id == "fairnad_apply_idea@v3"
    assert generation.prompt_sha256 == DIGEST
    assert generation.model_identity == ModelIdentity(
        "qwen-7b", "openai", "Qwen/Qwen2.5-Coder-7B-Instruct", "c03e6d3", ""
    )
    assert generation.parameters_used == SamplingSettings(900, 0.5, 1.0, 77)
