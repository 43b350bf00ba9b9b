"""The TGI backend: text-generation-inference (or our embedded server) through the official
`text-generation` AsyncClient, generate and generate_stream, with grammars where asked.

The client opens one aiohttp session per call and applies its `timeout` to the whole call,
streamed body included; the gateway gives each call the time left before the caller's
deadline (the client's own default of 10 s would cut long generations short). Cancelling a
call (the caller went away) closes its connection, which TGI takes as the end of the request.
"""

import json
from collections.abc import AsyncIterator

import aiohttp
import pydantic
from text_generation import AsyncClient
from text_generation import errors as tgi_errors
from text_generation.types import Grammar, GrammarType

from llm_gateway.backends import (
    UpstreamError,
    UpstreamFailed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    get_json,
)
from llm_gateway.domain import (
    FinishReason,
    ServedModel,
    TokenPiece,
    UpstreamAnswer,
    UpstreamRequest,
)

_UNAVAILABLE = (
    tgi_errors.OverloadedError,
    tgi_errors.ShardNotReadyError,
    tgi_errors.ShardTimeoutError,
    tgi_errors.RateLimitExceededError,
    tgi_errors.NotFoundError,
    tgi_errors.UnknownError,
    aiohttp.ClientConnectionError,  # refused, reset, disconnected (not a timeout)
    aiohttp.ClientPayloadError,
)
_REJECTED = (tgi_errors.ValidationError, tgi_errors.BadRequestError)
_FAILED = (tgi_errors.GenerationError, tgi_errors.IncompleteGenerationError)
_MALFORMED = (
    aiohttp.ContentTypeError,
    json.JSONDecodeError,
    pydantic.ValidationError,
    KeyError,
    TypeError,
    IndexError,
    UnicodeDecodeError,
)


def translate(error: BaseException) -> UpstreamError | None:
    """The gateway's error for an exception raised by the client; None for our own bugs."""
    message = str(error) or type(error).__name__
    if isinstance(error, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return UpstreamTimeout("the model server did not answer in time")
    if isinstance(error, _REJECTED):
        return UpstreamRejected(f"the model server refused the request: {message}")
    if isinstance(error, _FAILED):
        return UpstreamFailed(f"the model server failed to generate: {message}")
    if isinstance(error, _MALFORMED):
        return UpstreamFailed(f"the model server's answer is malformed: {message}")
    if isinstance(error, _UNAVAILABLE):
        return UpstreamUnavailable(f"the model server is unavailable: {message}")
    return None


def _finish(reason: object) -> FinishReason:
    return FinishReason(getattr(reason, "value", reason))


class TgiBackend:
    """Generation on a TGI-protocol server."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None, kind: str = "tgi"):
        self.kind = kind
        self._url = url
        self._headers = headers

    def _client(self, timeout: float) -> AsyncClient:
        return AsyncClient(self._url, headers=self._headers, timeout=max(timeout, 0.001))

    @staticmethod
    def arguments(request: UpstreamRequest) -> dict:
        """The client's keyword arguments for a request (also used by the benchmark)."""
        sampling = request.sampling
        sample = sampling.temperature is not None and sampling.temperature > 0
        arguments = {
            "max_new_tokens": sampling.max_new_tokens,
            "do_sample": sample,
            "temperature": sampling.temperature if sample else None,
            "top_p": sampling.top_p if sample else None,
            "seed": sampling.seed,
            "stop_sequences": list(sampling.stop),
        }
        if request.constraint is not None:
            if request.constraint.kind == "json":
                grammar = Grammar(type=GrammarType.Json, value=json.loads(request.constraint.value))
            else:
                grammar = Grammar(type=GrammarType.Regex, value=request.constraint.value)
            arguments["grammar"] = grammar
        return arguments

    async def generate(self, request: UpstreamRequest, budget_seconds: float) -> UpstreamAnswer:
        try:
            response = await self._client(budget_seconds).generate(
                request.prompt_text, decoder_input_details=True, **self.arguments(request)
            )
        except Exception as exc:
            raise translate(exc) or exc from exc
        details = response.details
        return UpstreamAnswer(
            text=response.generated_text,
            finish_reason=_finish(details.finish_reason),
            generated_tokens=details.generated_tokens,
            prompt_tokens=len(details.prefill) or None,  # the prompt's tokens, as TGI counted
        )

    async def generate_stream(
        self, request: UpstreamRequest, budget_seconds: float
    ) -> AsyncIterator[TokenPiece | UpstreamAnswer]:
        pieces: list[str] = []
        stream = self._client(budget_seconds).generate_stream(
            request.prompt_text, **self.arguments(request)
        )
        try:
            while True:
                try:
                    response = await anext(stream)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    raise translate(exc) or exc from exc
                if not response.token.special:
                    pieces.append(response.token.text)
                    yield TokenPiece(response.token.text, len(pieces) - 1)
                if response.details is not None:
                    text = response.generated_text
                    yield UpstreamAnswer(
                        text=text if text is not None else "".join(pieces),
                        finish_reason=_finish(response.details.finish_reason),
                        generated_tokens=response.details.generated_tokens,
                        prompt_tokens=None,  # TGI's stream does not count them for the client
                    )
                    return
        finally:
            await stream.aclose()  # closes the connection now, not when collected
        raise UpstreamUnavailable("the model server ended the stream before its last event")

    async def describe(self, budget_seconds: float) -> ServedModel:
        """TGI's /info: ``model_id`` and ``model_sha`` (the Hub commit); the embedded server
        adds ``model_file_sha256``, its GGUF file's digest."""
        info = await get_json(f"{self._url}/info", self._headers, budget_seconds)
        if not isinstance(info, dict):
            raise UpstreamFailed(f"{self._url}/info is not a JSON object")
        return ServedModel(
            served_model=str(info.get("model_id") or ""),
            revision=str(info.get("model_sha") or ""),
            file_sha256=str(info.get("model_file_sha256") or ""),
        )

    async def close(self) -> None:
        """Nothing to close: the client opens a session per call."""
