"""Which model answered: the configured name and backend, and what the server says it serves.

The server is asked (TGI's /info, an OpenAI server's /v1/models) at most once per
``REFRESH_SECONDS`` and not per answer, so a model swapped behind the same URL is seen within
that time. Not knowing the revision never fails an answer: when the server cannot say, the identity
carries what it said last, or else what the configuration knows (for an OpenAI server, the
model name it is asked for), and the server is asked again after ``RETRY_SECONDS``.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from llm_gateway.backends import Backend, UpstreamError
from llm_gateway.config import ModelConfig
from llm_gateway.domain import ModelIdentity, ServedModel

log = logging.getLogger(__name__)

REFRESH_SECONDS = 300.0
RETRY_SECONDS = 30.0
DESCRIBE_TIMEOUT_SECONDS = 5.0


class IdentityCache:
    """One model's identity, refreshed from its server now and then."""

    def __init__(
        self, config: ModelConfig, backend: Backend, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._backend = backend
        self._clock = clock
        self._configured = ServedModel(served_model=config.upstream_model)
        self._served: ServedModel | None = None
        self._next_check = 0.0
        self._lock = asyncio.Lock()

    def configured(self) -> ModelIdentity:
        """What the configuration alone says (a replayed answer asked no server)."""
        return ModelIdentity(self._config.name, self._config.backend, self._configured)

    async def current(self) -> ModelIdentity:
        async with self._lock:  # one question at a time; the others wait for its answer
            if self._clock() >= self._next_check:
                try:
                    self._served = await self._backend.describe(DESCRIBE_TIMEOUT_SECONDS)
                    self._next_check = self._clock() + REFRESH_SECONDS
                except UpstreamError as exc:
                    name = self._config.name
                    log.warning("model %s's server did not say what it serves: %s", name, exc)
                    self._next_check = self._clock() + RETRY_SECONDS
        served = self._served or self._configured
        return ModelIdentity(self._config.name, self._config.backend, served)
