"""The embedded model server: TGI's HTTP API over aiohttp, in front of one LlamaEngine.

The engine runs one generation at a time in a worker thread; requests beyond
max_concurrent_requests (running or queued) are answered 429 overloaded, as TGI does. A
client that disconnects (the gateway's deadline passed, or its caller went away) cancels
its handler, which stops the engine at the next token.
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

from aiohttp import web

from llm_gateway.embedded import chat, protocol
from llm_gateway.embedded.engine import GeneratedToken, GenerateParams
from llm_gateway.embedded.protocol import GenerateCall, Limits, ProtocolError

log = logging.getLogger(__name__)
VERSION = "nasforge-embedded-1"
_DONE = object()


class Engine(Protocol):
    """What the server needs of a model (LlamaEngine)."""

    model_id: str

    def tokenize(self, text: str) -> list[int]: ...

    def token_text(self, token: int) -> str: ...

    def chat_prompt(self, messages: list[dict]) -> str: ...

    def check_grammar(self, gbnf: str) -> None: ...

    def generate(
        self, prompt: list[int], params: GenerateParams, cancelled: threading.Event
    ) -> Iterator[GeneratedToken]: ...


def _error(error: ProtocolError) -> web.Response:
    return web.json_response(error.body(), status=error.status)


async def _end(response: web.StreamResponse | None) -> web.StreamResponse:
    if response is None:  # the generation stopped before its first token
        return _error(ProtocolError(protocol.GENERATION, "generation stopped before any token"))
    await response.write_eof()
    return response


async def _until_done(future: asyncio.Future) -> None:
    """Wait for the engine's thread to stop, even through repeated cancellation, so that the
    engine (not thread-safe) is never handed to the next request while it still runs."""
    interrupted = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            interrupted = True
    if interrupted:
        raise asyncio.CancelledError


class EmbeddedServer:
    """Routes of the TGI protocol on one engine."""

    def __init__(
        self,
        engine: Engine,
        limits: Limits,
        max_concurrent_requests: int,
        *,
        reasoning: chat.Reasoning = chat.NO_REASONING_PARSER,
        model_file_sha256: str = "",
    ) -> None:
        """``reasoning``: the chat endpoint's reasoning parser; ``model_file_sha256``: the
        GGUF file's digest, reported by /info (the gateway's model identity)."""
        self._engine = engine
        self._limits = limits
        self._reasoning = reasoning
        self._file_sha256 = model_file_sha256
        self._max_requests = max_concurrent_requests
        self._active = 0
        self._counts = {"requests": 0, "generated_tokens": 0, "cancelled": 0, "overloaded": 0}
        self._lock = asyncio.Lock()
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="llama")

    def application(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.add_routes(
            [
                web.post("/", self.compat),
                web.post("/generate", self.generate),
                web.post("/generate_stream", self.generate_stream),
                web.post("/v1/chat/completions", self.chat),
                web.get("/v1/models", self.models),
                web.get("/info", self.info),
                web.get("/health", self.health),
                web.get("/metrics", self.metrics),
            ]
        )
        app.on_shutdown.append(lambda _: self._shutdown())
        return app

    async def _shutdown(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def _tokens(self, prompt: list[int], params: GenerateParams) -> AsyncIterator:
        """The engine's tokens, one generation at a time; stops the engine when left early."""
        if self._active >= self._max_requests:
            self._counts["overloaded"] += 1
            raise ProtocolError(protocol.OVERLOADED, "Model is overloaded")
        self._active += 1
        self._counts["requests"] += 1
        finished = False
        try:
            async with self._lock:
                loop = asyncio.get_running_loop()
                queue: asyncio.Queue = asyncio.Queue()
                cancelled = threading.Event()

                def produce() -> None:
                    def put(item: object) -> None:
                        try:
                            loop.call_soon_threadsafe(queue.put_nowait, item)
                        except RuntimeError:  # the loop is gone: nobody is listening
                            cancelled.set()

                    try:
                        for token in self._engine.generate(prompt, params, cancelled):
                            put(token)
                    except Exception as exc:
                        log.exception("generation failed")
                        put(ProtocolError(protocol.GENERATION, f"generation failed: {exc}"))
                    put(_DONE)

                running = loop.run_in_executor(self._worker, produce)
                try:
                    while (item := await queue.get()) is not _DONE:
                        if isinstance(item, ProtocolError):
                            raise item
                        self._counts["generated_tokens"] += 1
                        yield item
                    finished = True
                finally:
                    cancelled.set()
                    await _until_done(running)
        finally:
            self._active -= 1
            if not finished:
                self._counts["cancelled"] += 1

    def _prepare(self, call: GenerateCall) -> list[int]:
        if call.params.grammar is not None:
            try:
                self._engine.check_grammar(call.params.grammar)
            except ValueError as exc:
                raise protocol.invalid(f"grammar: {exc}") from exc
        prompt = self._engine.tokenize(call.inputs)
        if call.truncate is not None:
            prompt = prompt[-call.truncate :]
        protocol.check_lengths(len(prompt), call.params.max_new_tokens, self._limits)
        return prompt

    async def _call(self, request: web.Request, stream: bool | None) -> GenerateCall:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise protocol.invalid(f"the body is not JSON: {exc}") from exc
        return protocol.parse_generate(body, self._limits, stream=stream)

    async def compat(self, request: web.Request) -> web.StreamResponse:
        """POST /: a list of one answer, or events when the body asks to stream."""
        return await self._generate(request, stream=None, as_list=True)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, stream=False, as_list=False)

    async def generate_stream(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, stream=True, as_list=False)

    async def _generate(
        self, request: web.Request, *, stream: bool | None, as_list: bool
    ) -> web.StreamResponse:
        try:
            call = await self._call(request, stream)
            prompt = self._prepare(call)
            if call.stream:

                def event(token: GeneratedToken, generated: list[GeneratedToken]) -> dict:
                    return protocol.stream_event(
                        call, token, len(generated), generated, len(prompt)
                    )

                return await self._events(request, prompt, call, event)
            generated = await self._all_tokens(prompt, call.params)
        except ProtocolError as error:
            return _error(error)
        prefill = []
        if call.decoder_input_details:
            prefill = [
                {"id": t, "text": self._engine.token_text(t), "logprob": None} for t in prompt
            ]
        body = protocol.generate_response(call, generated, prefill)
        return web.json_response([body] if as_list else body)

    async def _all_tokens(self, prompt: list[int], params: GenerateParams) -> list[GeneratedToken]:
        async with contextlib.aclosing(self._tokens(prompt, params)) as tokens:
            return [token async for token in tokens]

    async def _events(
        self, request: web.Request, prompt: list[int], call: GenerateCall, event: Callable
    ) -> web.StreamResponse:
        """Stream ``event(token, tokens so far)`` per token; errors before the first one are
        plain error responses, after it an error event."""
        generated: list[GeneratedToken] = []
        response = None
        try:
            # Closing the generator (also when a write fails because the client left) is
            # what stops the engine.
            async with contextlib.aclosing(self._tokens(prompt, call.params)) as tokens:
                async for token in tokens:
                    if response is None:
                        response = web.StreamResponse(
                            headers={
                                "Content-Type": "text/event-stream",
                                "Cache-Control": "no-cache",
                            }
                        )
                        await response.prepare(request)
                    generated.append(token)
                    await response.write(protocol.sse(event(token, generated)))
        except ProtocolError as error:
            if response is None:
                return _error(error)
            await response.write(protocol.sse(error.body()))
        return await _end(response)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/chat/completions, with the model's own chat template."""
        try:
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise protocol.invalid(f"the body is not JSON: {exc}") from exc
            messages, call, with_usage = chat.parse_chat(body, self._limits)
            try:
                prompt_text = self._engine.chat_prompt(messages)
            except ValueError as exc:
                raise protocol.invalid(str(exc)) from exc
            call = dataclasses.replace(call, inputs=prompt_text)
            prompt = self._prepare(call)
            model_id = self._engine.model_id
            reasoning = self._reasoning
            if call.stream:
                parser = reasoning.stream()

                def chunk(token: GeneratedToken, generated: list[GeneratedToken]) -> dict:
                    return chat.chat_chunk(
                        model_id, token, generated, len(prompt), with_usage, reasoning, parser
                    )

                return await self._events(request, prompt, call, chunk)
            generated = await self._all_tokens(prompt, call.params)
        except ProtocolError as error:
            return _error(error)
        return web.json_response(chat.chat_response(model_id, generated, len(prompt), reasoning))

    async def models(self, request: web.Request) -> web.Response:
        """GET /v1/models, as vLLM answers it (the gateway's openai backend reads it)."""
        model_id = self._engine.model_id
        return web.json_response(
            chat.models_response(model_id, model_id, self._limits.max_total_tokens)
        )

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "model_id": self._engine.model_id,
                "model_sha": None,
                # Not TGI's: the served GGUF file's SHA-256, computed at start-up.
                "model_file_sha256": self._file_sha256 or None,
                "model_dtype": "gguf",
                "model_device_type": "cpu",
                "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": self._max_requests,
                "max_best_of": 1,
                "max_stop_sequences": self._limits.max_stop_sequences,
                "max_input_tokens": self._limits.max_input_tokens,
                "max_total_tokens": self._limits.max_total_tokens,
                "validation_workers": 1,
                "max_client_batch_size": 1,
                "router": "text-generation-router",
                "version": VERSION,
                "sha": None,
                "docker_label": None,
            }
        )

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def metrics(self, request: web.Request) -> web.Response:
        """A few counters in Prometheus' text format ("cancelled": generations that did not end
        normally, because the client left or the engine failed)."""
        lines = [f"nasforge_embedded_{name}_total {value}" for name, value in self._counts.items()]
        lines.append(f"nasforge_embedded_active_requests {self._active}")
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")
