"""`python -m llm_gateway` as a process: configured from the environment, serving gRPC and
/metrics, and exiting 0 on SIGTERM; with a DeepSeek-R1 chat template and reasoning answers."""

import asyncio
import json
import urllib.request

from nasforge.common.v1 import common_pb2
from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc.auth import hash_token
from rpc.client import open_channel
from tests.integration.llm_gateway.conftest import INDEX, dead_url, start_process, stop_process
from tests.integration.llm_gateway.tgi_peer import Behaviour

R1_ANSWER = (
    "The user wants a tiny model. A linear layer is enough.\n</think>\n\n"
    "```python\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    pass\n```"
)


async def test_the_service_process(peer, tmp_path):
    peer.behaviour = Behaviour(answer=R1_ANSWER)
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{"sha256": hash_token("t0k"), "tenant": "acme"}]}))
    metrics_port = int(dead_url().rsplit(":", 1)[1])
    models = [
        {"name": "r1", "backend": "tgi", "url": peer.url, "chat_template": "deepseek-r1"},
    ]
    process, port = await asyncio.to_thread(
        start_process,
        ["-m", "llm_gateway"],
        {
            "NASFORGE_GATEWAY_PORT": "0",
            "NASFORGE_GATEWAY_PLAINTEXT": "true",
            "NASFORGE_GATEWAY_METRICS_PORT": str(metrics_port),
            "NASFORGE_GATEWAY_AUTH_TOKENS_FILE": str(tokens),
            "NASFORGE_GATEWAY_NAME_INDEX_PATH": str(INDEX),
            "NASFORGE_GATEWAY_MODELS": json.dumps(models),
        },
        "llm_gateway listening on port",
    )
    try:
        async with open_channel(f"127.0.0.1:{port}", token="t0k") as channel:
            reply = await pb_grpc.LlmGatewayServiceStub(channel).Generate(
                pb.GenerateRequest(
                    model="r1",
                    messages=[
                        pb.ChatMessage(role="system", content="Be brief."),
                        pb.ChatMessage(role="user", content="A tiny model, please."),
                    ],
                    parameters=pb.GenerationParameters(max_new_tokens=200),
                    answer_kind=pb.ANSWER_KIND_NET_CODE,
                )
            )
        assert reply.analysis.reasoning.startswith("The user wants a tiny model.")
        assert reply.analysis.content.startswith("import torch.nn as nn")
        assert reply.analysis.outcome == common_pb2.OUTCOME_API_NONCOMPLIANCE
        sent = peer.record.requests[0]["inputs"]
        assert sent == (
            "Be brief.<\uff5cUser\uff5c>A tiny model, please.<\uff5cAssistant\uff5c><think>\n"
        )
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        exposition = await asyncio.to_thread(lambda: urllib.request.urlopen(url).read().decode())
        assert 'nasforge_gateway_upstream_requests_total{model="r1",result="ok"} 1.0' in exposition
        assert 'nasforge_rpc_requests_total{code="OK",method="Generate"' in exposition
    finally:
        assert await asyncio.to_thread(stop_process, process) == 0
