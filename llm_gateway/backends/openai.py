"""The OpenAI-compatible backend: /v1/chat/completions on vLLM, SGLang, llama.cpp's server, ...

Spoken over aiohttp (already a dependency of the text-generation client), unary or as
server-sent events; the server applies its own chat template. A JSON-schema constraint is
sent as OpenAI's `response_format` {"type": "json_schema", "json_schema": {"name", "schema"}},
which vLLM takes in every version since 0.6 (its own `guided_json` was removed in 0.12 in
favour of `structured_outputs`; `response_format` stayed), as do SGLang and llama.cpp's
server; with a reasoning parser vLLM applies it to the answer after the reasoning. Regular
expressions have no portable form here and are refused (preparation refuses them first).

Reasoning that the server returns apart from the content (`reasoning`, `reasoning_content`)
is written back into the text in the model's own notation (llm_gateway.reasoning).
"""

import json
import re
from collections.abc import AsyncIterator

import aiohttp

from llm_gateway.backends import (
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
from llm_gateway.reasoning import StreamJoiner, join_reasoning, reasoning_of

_FINISH = {"stop": FinishReason.EOS, "length": FinishReason.LENGTH, "eos_token": FinishReason.EOS}
MAX_ERROR_CHARS = 300
# A model loaded from the Hugging Face cache: .../models--org--name/snapshots/<commit>[/...]
_SNAPSHOT = re.compile(r"models--([^/]+?)--([^/]+)/snapshots/([0-9a-f]{40})")


def served_model(models: object, wanted: str) -> ServedModel:
    """The entry of /v1/models for ``wanted`` (the only one when ``wanted`` is empty): vLLM's
    ``root`` is the model it loaded (a repository id or a path), ``id`` the name it serves."""
    data = models.get("data") if isinstance(models, dict) else None
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise UpstreamFailed("/v1/models has no list `data`")
    entries = [entry for entry in data if not wanted or entry.get("id") == wanted]
    if not entries:
        served = ", ".join(str(entry.get("id")) for entry in data)
        raise UpstreamFailed(f"the server does not serve {wanted!r} (it serves: {served})")
    entry = entries[0]
    root = str(entry.get("root") or entry.get("id") or "")
    snapshot = _SNAPSHOT.search(root)
    if snapshot:  # a path into the Hub cache names the repository and its commit
        organisation, name, commit = snapshot.groups()
        return ServedModel(served_model=f"{organisation}/{name}", revision=commit)
    return ServedModel(served_model=root)


class OpenAIBackend:
    """Chat completions on an OpenAI-compatible server (one shared connection pool)."""

    kind = "openai"

    def __init__(self, url: str, model: str, *, headers: dict[str, str] | None = None) -> None:
        self._url = url
        self._endpoint = f"{url}/v1/chat/completions"
        self._model = model
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers)
        return self._session

    def body(self, request: UpstreamRequest, stream: bool) -> dict:
        sampling = request.sampling
        body: dict = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature or 0.0,
            "stream": stream,
        }
        if sampling.top_p is not None and sampling.temperature:
            body["top_p"] = sampling.top_p
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if stream:
            body["stream_options"] = {"include_usage": True}
        if request.constraint is not None:
            if request.constraint.kind != "json":
                raise UpstreamRejected("OpenAI-compatible servers take no regex constraint")
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": json.loads(request.constraint.value)},
            }
        return body

    async def _check(self, response: aiohttp.ClientResponse) -> None:
        if response.status == 200:
            return
        text = (await response.text())[:MAX_ERROR_CHARS]
        if response.status in (400, 413, 422):
            raise UpstreamRejected(f"the model server refused the request: {text}")
        raise UpstreamUnavailable(f"the model server answered HTTP {response.status}: {text}")

    async def generate(self, request: UpstreamRequest, budget_seconds: float) -> UpstreamAnswer:
        try:
            async with self._client().post(
                self._endpoint,
                json=self.body(request, stream=False),
                timeout=aiohttp.ClientTimeout(total=budget_seconds),
            ) as response:
                await self._check(response)
                payload = await response.json()
            choice = payload["choices"][0]
            usage = payload.get("usage") or {}
            message = choice["message"]
            return UpstreamAnswer(
                text=join_reasoning(reasoning_of(message), message.get("content") or ""),
                finish_reason=_FINISH.get(choice.get("finish_reason"), FinishReason.EOS),
                generated_tokens=int(usage.get("completion_tokens", 0)),
                prompt_tokens=usage.get("prompt_tokens"),
            )
        except TimeoutError as exc:
            raise UpstreamTimeout("the model server did not answer in time") from exc
        except aiohttp.ClientConnectionError as exc:
            raise UpstreamUnavailable(f"the model server is unavailable: {exc}") from exc
        except (aiohttp.ContentTypeError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise UpstreamFailed(f"the model server's answer is malformed: {exc!r}") from exc

    async def generate_stream(
        self, request: UpstreamRequest, budget_seconds: float
    ) -> AsyncIterator[TokenPiece | UpstreamAnswer]:
        pieces: list[str] = []
        finish: str | None = None
        usage: dict = {}
        joiner = StreamJoiner()
        try:
            async with self._client().post(
                self._endpoint,
                json=self.body(request, stream=True),
                timeout=aiohttp.ClientTimeout(total=budget_seconds),
            ) as response:
                await self._check(response)
                async for line in response.content:
                    data = line.decode("utf-8").strip()
                    if not data.startswith("data:"):
                        continue
                    data = data[len("data:") :].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    if "error" in event:
                        raise UpstreamFailed(f"the model server failed: {event['error']}")
                    usage = event.get("usage") or usage
                    for choice in event.get("choices") or []:
                        delta = choice.get("delta") or {}
                        text = joiner.piece(reasoning_of(delta), delta.get("content") or "")
                        if text:
                            pieces.append(text)
                            yield TokenPiece(text, len(pieces) - 1)
                        finish = choice.get("finish_reason") or finish
        except TimeoutError as exc:
            raise UpstreamTimeout("the model server did not answer in time") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise UpstreamUnavailable(f"the model server is unavailable: {exc}") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UpstreamFailed(f"the model server's stream is malformed: {exc!r}") from exc
        if finish is None:
            raise UpstreamUnavailable("the model server ended the stream before finishing")
        yield UpstreamAnswer(
            text="".join(pieces),
            finish_reason=_FINISH.get(finish, FinishReason.EOS),
            generated_tokens=int(usage.get("completion_tokens", len(pieces))),
            prompt_tokens=usage.get("prompt_tokens"),
        )

    async def describe(self, budget_seconds: float) -> ServedModel:
        """The served model from /v1/models (see ``served_model``)."""
        return served_model(
            await get_json(f"{self._url}/v1/models", self._headers, budget_seconds), self._model
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
