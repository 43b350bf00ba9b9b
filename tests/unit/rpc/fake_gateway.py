"""A test servicer for the LlmGatewayService contract, used to exercise rpc/ end to end.

It is not a model: it echoes who called it, sleeps on request (to test draining), and
raises chosen errors (to test error mapping). The real gateway is llm_gateway/.
"""

import asyncio

from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc import errors
from rpc.server import ServiceBinding, bind
from rpc.tenant import current_tenant


def _raise_for(model: str) -> None:
    if model == "missing":
        raise errors.NotFound("no model named 'missing'")
    if model == "quota":
        raise errors.QuotaExceeded("daily token quota of 1000 used up")
    if model == "bad":
        raise errors.InvalidArgument("model name is malformed")
    if model == "small-context":
        raise errors.PromptTooLong("the prompt is over model small-context's limit")
    if model == "slow-upstream":
        raise TimeoutError
    if model == "bug":
        raise ZeroDivisionError("secret internal detail")


class EchoGateway(pb_grpc.LlmGatewayServiceServicer):
    """Answers with the caller's tenant and the prompt; sleeps max_new_tokens milliseconds."""

    async def Generate(self, request, context):
        _raise_for(request.model)
        await asyncio.sleep(request.parameters.max_new_tokens / 1000)
        prompt = " ".join(message.content for message in request.messages)
        return pb.GenerateResponse(
            text=f"tenant={current_tenant()} prompt={prompt}",
            finish_reason=pb.FINISH_REASON_EOS,
            model=request.model,
        )

    async def GenerateStream(self, request, context):
        _raise_for(request.model)
        words = f"tenant={current_tenant()} " + " ".join(m.content for m in request.messages)
        for index, word in enumerate(words.split()):
            await asyncio.sleep(request.parameters.max_new_tokens / 1000)
            yield pb.GenerateStreamResponse(text=word, index=index)
        yield pb.GenerateStreamResponse(finish_reason=pb.FINISH_REASON_EOS, index=index + 1)

    async def ListModels(self, request, context):
        return pb.ListModelsResponse(models=[pb.ModelInfo(name="echo", backend="test")])


def echo_binding() -> ServiceBinding:
    return bind(
        pb_grpc.add_LlmGatewayServiceServicer_to_server,
        EchoGateway(),
        pb.DESCRIPTOR.services_by_name["LlmGatewayService"],
    )
