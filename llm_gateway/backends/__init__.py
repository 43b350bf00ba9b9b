"""Backends: how the gateway reaches a model server, and the errors every backend raises."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from llm_gateway.config import ModelConfig
from llm_gateway.domain import TokenPiece, UpstreamAnswer, UpstreamRequest


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

    async def close(self) -> None: ...


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
