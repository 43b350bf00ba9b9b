"""The gateway: validate, admit under the tenant's quotas, generate upstream, analyse the answer.

No transport here: the servicer (llm_gateway.server) converts to and from the wire, and the
metrics (llm_gateway.metrics) are reached through the GatewayObserver protocol.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from llm_gateway.analysis import AnswerAnalyzer
from llm_gateway.backends import make_backend
from llm_gateway.config import GatewaySettings, ModelConfig
from llm_gateway.domain import (
    Analysis,
    Generation,
    GenerationRequest,
    ModelDescription,
    TokenPiece,
    UpstreamAnswer,
)
from llm_gateway.identity import IdentityCache
from llm_gateway.preparation import Prepared, prepare
from llm_gateway.prompts.library import BUILTIN_DIR, PromptLibrary, PromptTemplate
from llm_gateway.quotas import Reservation, TenantQuotas, open_token_ledger
from llm_gateway.replay import AnswerRecorder, ReplayObserver
from llm_gateway.resilience import BreakerState, CircuitBreaker, RetryPolicy
from llm_gateway.upstream import Attempts, ModelUpstream, UpstreamObserver
from netapi.code_policy import CodePolicy
from rpc.admission import QuotaLookup
from rpc.errors import NotFound, QuotaExceeded

log = logging.getLogger(__name__)


class GatewayObserver(UpstreamObserver, ReplayObserver, Protocol):
    """Everything the gateway reports (llm_gateway.metrics implements it)."""

    def tokens_counted(self, model: str, prompt_tokens: int, generated_tokens: int) -> None: ...

    def answer_analysed(self, model: str, analysis: Analysis) -> None: ...

    def quota_rejected(self, tenant: str, quota: str) -> None: ...

    def breaker_changed(self, model: str, state: BreakerState) -> None: ...


class NoObserver:
    """Reports nowhere (tests and tools that need no metrics)."""

    def upstream_finished(self, model: str, result: str, seconds: float) -> None:
        pass

    def in_flight_changed(self, model: str, count: int) -> None:
        pass

    def tokens_counted(self, model: str, prompt_tokens: int, generated_tokens: int) -> None:
        pass

    def answer_analysed(self, model: str, analysis: Analysis) -> None:
        pass

    def quota_rejected(self, tenant: str, quota: str) -> None:
        pass

    def breaker_changed(self, model: str, state: BreakerState) -> None:
        pass

    def answer_replayed(self, model: str) -> None:
        pass


class LlmGateway:
    """Every configured model, the prompt library, the answer checks and the tenants' quotas."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        policy: CodePolicy,
        prompts: PromptLibrary | None = None,
        observer: GatewayObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        quotas: QuotaLookup | None = None,
    ) -> None:
        """``quotas``: the tenant registry's quotas (TenantDirectory.quotas), when there is one."""
        self._observer = observer or NoObserver()
        self._clock = clock
        self._prompts = prompts or PromptLibrary.load(settings.prompts_dir or BUILTIN_DIR)
        self._analyzer = AnswerAnalyzer(policy)
        self._answers = AnswerRecorder(settings.record_mode, settings.record_dir, self._observer)
        self._quotas = TenantQuotas(
            settings.default_limits,
            settings.tenant_limits,
            registry=quotas,
            ledger=open_token_ledger(settings),
        )
        retry = RetryPolicy(
            settings.retry_attempts,
            settings.retry_initial_backoff_seconds,
            settings.retry_max_backoff_seconds,
        )
        self._models: dict[str, ModelUpstream] = {}
        self._identities: dict[str, IdentityCache] = {}
        for config in settings.models:
            breaker = CircuitBreaker(
                settings.breaker_failure_threshold,
                settings.breaker_reset_seconds,
                clock=clock,
                on_change=self._breaker_callback(config),
            )
            backend = make_backend(config)
            self._models[config.name] = ModelUpstream(
                config, backend, breaker, retry, self._observer, clock=clock, rng=rng
            )
            self._identities[config.name] = IdentityCache(config, backend, clock=clock)

    def _breaker_callback(self, config: ModelConfig) -> Callable[[BreakerState], None]:
        def changed(state: BreakerState) -> None:
            log.warning("circuit of model %s is now %s", config.name, state.name.lower())
            self._observer.breaker_changed(config.name, state)

        return changed

    def models(self) -> list[ModelDescription]:
        return [
            ModelDescription(
                name=config.name,
                backend=config.backend,
                max_total_tokens=config.max_total_tokens,
                default_max_new_tokens=config.default_max_new_tokens,
                max_new_tokens_limit=config.max_new_tokens_limit,
                chat_template=config.chat_template,
                supports_constraints=config.supports_constraints,
            )
            for config in (upstream.config for upstream in self._models.values())
        ]

    def tokens_used_today(self, tenant: str) -> int:
        """Tokens charged to ``tenant`` this UTC day (prompt + generated)."""
        return self._quotas.used_today(tenant)

    def prompt_templates(self) -> list[PromptTemplate]:
        return self._prompts.templates()

    def _upstream(self, model: str) -> ModelUpstream:
        try:
            return self._models[model]
        except KeyError:
            raise NotFound(f"no model named {model!r}; ListModels shows the served ones") from None

    def _prepare(self, request: GenerationRequest, upstream: ModelUpstream) -> Prepared:
        prepared = prepare(request, upstream.config, self._prompts)
        if prepared.fitting:
            log.info(
                "prompt %s fitted to model %s's context: %s",
                prepared.prompt_id,
                upstream.config.name,
                ", ".join(prepared.fitting),
            )
        return prepared

    async def _admit(self, tenant: str, prepared: Prepared) -> Reservation:
        try:  # the quota ledger may be a database: never on the event loop
            return await asyncio.to_thread(self._quotas.admit, tenant, prepared.worst_case_tokens)
        except QuotaExceeded as exc:
            for violation in exc.violations:
                self._observer.quota_rejected(tenant, violation.quota_id)
            raise

    @staticmethod
    async def _settle(reservation: Reservation, tokens: int) -> None:
        """Charge ``tokens`` for the request (a no-op once settled)."""
        if reservation.open:
            await asyncio.to_thread(reservation.settle, tokens)

    async def _finish(
        self,
        upstream: ModelUpstream,
        prepared: Prepared,
        answer: UpstreamAnswer,
        reservation: Reservation,
        started: float,
        attempts: Attempts,
    ) -> Generation:
        model = upstream.config.name
        estimated = answer.prompt_tokens is None
        prompt_tokens = prepared.prompt_estimate if estimated else answer.prompt_tokens
        await self._settle(reservation, prompt_tokens + answer.generated_tokens)
        self._observer.tokens_counted(model, prompt_tokens, answer.generated_tokens)
        analysis = self._analyzer.analyse(
            answer.text,
            answer.finish_reason,
            prepared.answer_kind,
            prepared.task,
            prepared.json_schema,
        )
        self._observer.answer_analysed(model, analysis)
        identities = self._identities[model]
        # A replayed answer asked no server: its identity is the configuration's alone.
        identity = await identities.current() if attempts.count else identities.configured()
        return Generation(
            model=model,
            text=answer.text,
            finish_reason=answer.finish_reason,
            prompt_tokens=prompt_tokens,
            prompt_tokens_estimated=estimated,
            generated_tokens=answer.generated_tokens,
            analysis=analysis,
            prompt_id=prepared.prompt_id,
            wall_time_ms=round((self._clock() - started) * 1000),
            upstream_latency_ms=round(attempts.seconds * 1000),
            upstream_attempts=attempts.count,
            prompt_fitting=prepared.fitting,
            prompt_sha256=prepared.upstream.prompt_sha256,
            model_identity=identity,
            parameters_used=prepared.upstream.sampling,
        )

    async def generate(
        self, request: GenerationRequest, *, tenant: str, deadline: float | None
    ) -> Generation:
        """One complete, analysed answer; ``deadline`` is on time.monotonic's clock."""
        started = self._clock()
        upstream = self._upstream(request.model)
        prepared = self._prepare(request, upstream)
        reservation = await self._admit(tenant, prepared)
        attempts = Attempts()
        try:
            answer = await self._answers.generate(upstream, prepared.upstream, deadline, attempts)
            return await self._finish(upstream, prepared, answer, reservation, started, attempts)
        finally:
            await self._settle(reservation, 0)  # a no-op once _finish charged the real count

    async def generate_stream(
        self, request: GenerationRequest, *, tenant: str, deadline: float | None
    ) -> AsyncIterator[TokenPiece | Generation]:
        """Token pieces as they come, then the analysed Generation as the last item."""
        started = self._clock()
        upstream = self._upstream(request.model)
        prepared = self._prepare(request, upstream)
        reservation = await self._admit(tenant, prepared)
        attempts = Attempts()
        answer: UpstreamAnswer | None = None
        streamed = 0
        try:
            async with contextlib.aclosing(
                self._answers.generate_stream(upstream, prepared.upstream, deadline, attempts)
            ) as stream:
                async for item in stream:
                    if isinstance(item, UpstreamAnswer):
                        answer = item
                    else:
                        streamed += 1
                        yield item
            if answer is not None:
                yield await self._finish(upstream, prepared, answer, reservation, started, attempts)
        finally:
            # A stream that broke or was abandoned is charged for what it consumed.
            await self._settle(reservation, prepared.prompt_estimate + streamed if streamed else 0)

    async def close(self) -> None:
        for upstream in self._models.values():
            await upstream.backend.close()
        await asyncio.to_thread(self._quotas.close)
