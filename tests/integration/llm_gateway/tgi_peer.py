"""A tiny TGI-protocol server with canned answers, for tests that need a predictable upstream.

This is a test peer, not a mock of our code: a real aiohttp server on 127.0.0.1 that speaks
TGI's wire protocol as the official text-generation client expects it (POST / answering a
list or server-sent events, TGI's error bodies), written apart from llm_gateway.embedded so
that the two cross-check the protocol. Each test chooses its behaviour: the answer (one
token per word), a delay before the first token and between tokens, an HTTP error, an error
event in the middle of a stream, or a connection dropped mid-answer. It records the requests
it received, how many ran at once, and how many callers hung up before their answer ended.
The benchmark (bench/llm_gateway.py) uses it as a fast, steady upstream.
"""

import asyncio
import json
import re
import sys
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Behaviour:
    """What the peer does with the next requests."""

    answer: str = "Hello from the peer."
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    status: int = 200  # != 200: answer this status with TGI's error body
    error_type: str = "overloaded"
    error_message: str = "Model is overloaded"
    fail_after_tokens: int | None = None  # a generation error event after this many tokens
    drop_after_tokens: int | None = None  # close the connection after this many tokens


# GET /info as TGI 3 answers it (the fields the gateway reads, and a few more).
INFO = {
    "model_id": "deepseek-ai/DeepSeek-R1-0528-Qwen3-8B",
    "model_sha": "6e8885a6ff5c1dc5201574c8fd700323f23c25fa",
    "model_pipeline_tag": "text-generation",
    "max_input_tokens": 12288,
    "max_total_tokens": 16384,
    "router": "text-generation-router",
    "version": "3.3.4",
}


@dataclass
class Record:
    """What the peer saw."""

    requests: list[dict] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    hung_up: int = 0
    finished: int = 0


def _tokens(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text) or [text]


class TgiPeer:
    """Start with `await peer.start()`; `peer.url` is then its base URL."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.record = Record()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.add_routes(
            [
                web.post("/", self._root),
                web.post("/generate_stream", self._stream_route),
                web.get("/health", lambda _: web.Response()),
                web.get("/info", self._info),
            ]
        )
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def _info(self, request: web.Request) -> web.Response:
        return web.json_response(INFO)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _root(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return await self._serve(request, body, stream=bool(body.get("stream")))

    async def _stream_route(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, await request.json(), stream=True)

    async def _serve(self, request: web.Request, body: dict, stream: bool) -> web.StreamResponse:
        record, behaviour = self.record, self.behaviour
        record.requests.append(body)
        record.in_flight += 1
        record.max_in_flight = max(record.max_in_flight, record.in_flight)
        try:
            if behaviour.first_token_delay:
                await asyncio.sleep(behaviour.first_token_delay)
            if behaviour.status != 200:
                error = {"error": behaviour.error_message, "error_type": behaviour.error_type}
                return web.json_response(error, status=behaviour.status)
            parameters = body.get("parameters") or {}
            words = _tokens(behaviour.answer)
            limit = parameters.get("max_new_tokens") or 20
            finish = "length" if len(words) > limit else "eos_token"
            words = words[:limit]
            if stream:
                response = await self._events(request, words, finish)
            else:
                response = await self._whole(body, words, finish)
            record.finished += 1
            return response
        except asyncio.CancelledError:
            record.hung_up += 1
            raise
        finally:
            record.in_flight -= 1

    async def _whole(self, body: dict, words: list[str], finish: str) -> web.Response:
        await asyncio.sleep(self.behaviour.token_delay * len(words))
        prefill = []
        if (body.get("parameters") or {}).get("decoder_input_details"):
            prefill = [
                {"id": n, "text": w, "logprob": None} for n, w in enumerate(_tokens(body["inputs"]))
            ]
        details = {
            "finish_reason": finish,
            "generated_tokens": len(words),
            "seed": None,
            "prefill": prefill,
            "tokens": [
                {"id": n, "text": w, "logprob": -0.5, "special": False} for n, w in enumerate(words)
            ],
        }
        return web.json_response([{"generated_text": "".join(words), "details": details}])

    async def _events(
        self, request: web.Request, words: list[str], finish: str
    ) -> web.StreamResponse:
        behaviour = self.behaviour
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for index, word in enumerate(words, start=1):
            if behaviour.token_delay:
                # Paced by the clock, like a GPU server, not by when this process gets the CPU:
                # late wake-ups do not push every later token back.
                await asyncio.sleep(max(0.0, started + index * behaviour.token_delay - loop.time()))
            if behaviour.drop_after_tokens is not None and index > behaviour.drop_after_tokens:
                request.transport.close()
                return response
            if behaviour.fail_after_tokens is not None and index > behaviour.fail_after_tokens:
                error = {"error": "CUDA out of memory", "error_type": "generation"}
                await response.write(b"data:" + json.dumps(error).encode() + b"\n\n")
                break
            last = index == len(words)
            event = {
                "index": index,
                "token": {"id": index, "text": word, "logprob": -0.5, "special": False},
                "top_tokens": None,
                "generated_text": "".join(words) if last else None,
                "details": (
                    {"finish_reason": finish, "generated_tokens": len(words), "seed": None}
                    if last
                    else None
                ),
            }
            await response.write(b"data:" + json.dumps(event).encode() + b"\n\n")
        await response.write_eof()
        return response


async def _serve_forever(port: int, answer_words: int, token_delay: float) -> None:
    peer = TgiPeer(
        Behaviour(answer=" ".join(f"w{n}" for n in range(answer_words)), token_delay=token_delay)
    )
    await peer.start(port)
    print(f"tgi peer listening on {peer.url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":  # python -m tests.integration.llm_gateway.tgi_peer PORT WORDS DELAY
    asyncio.run(_serve_forever(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
