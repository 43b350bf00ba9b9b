"""Backends: how the gateway reaches a model server, and the errors every backend raises."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import aiohttp

from llm_gateway.config import ModelConfig
from llm_gateway.domain import ServedModel, TokenPiece, UpstreamAnswer, UpstreamRequest


class UpstreamError(Exception):
    """A backend call failed; the subclass says whose fault it was."""


class UpstreamUnavailable(UpstreamError):
    """The server is down, unreachable, overloaded or not ready: worth a retry."""


class UpstreamTimeout(UpstreamError):
    """The call ran past the time it was given."""


class UpstreamRejected(UpstreamError):
    """The server refused the request itself (validation): the caller's request is at fault."""


class UpstreamFailed(UpstreamError):
    """The server failed while generating, or answered something malformed: not retried."""


class Backend(Protocol):
    """One model server; ``budget_seconds`` is all the time a call may take (deadline included)."""

    kind: str

    async def generate(self, request: UpstreamRequest, budget_seconds: float) -> UpstreamAnswer: ...

    def generate_stream(
        self, request: UpstreamRequest, budget_seconds: float
    ) -> AsyncIterator[TokenPiece | UpstreamAnswer]:
        """Token pieces as they come, then the complete answer as the last item."""
        ...

    async def describe(self, budget_seconds: float) -> ServedModel:
        """What the server reports about its model (its /info or /v1/models)."""
        ...

    async def close(self) -> None: ...


async def get_json(url: str, headers: dict[str, str] | None, budget_seconds: float) -> dict | list:
    """GET a small JSON document from a model server (the backends' describe())."""
    try:
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.get(url, timeout=aiohttp.ClientTimeout(total=budget_seconds)) as response,
        ):
            if response.status != 200:
                raise UpstreamUnavailable(f"{url} answered HTTP {response.status}")
            return await response.json(content_type=None)
    except TimeoutError as exc:
        raise UpstreamTimeout(f"{url} did not answer in time") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(f"{url} is unavailable: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UpstreamFailed(f"{url} answered no JSON: {exc}") from exc


def _headers(config: ModelConfig) -> dict[str, str] | None:
    if config.api_key_file is None:
        return None
    token = Path(config.api_key_file).read_text(encoding="utf-8").strip()
    return {"Authorization": f"Bearer {token}"}


def make_backend(config: ModelConfig) -> Backend:
    """The backend a model's configuration names (the embedded server speaks TGI's protocol)."""
    if config.backend == "openai":
        from llm_gateway.backends.openai import OpenAIBackend

        return OpenAIBackend(config.url, config.upstream_model, headers=_headers(config))
    from llm_gateway.backends.tgi import TgiBackend

    return TgiBackend(config.url, headers=_headers(config), kind=config.backend)
