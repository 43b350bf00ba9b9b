"""One search's run: plans candidates up to its budget and keeps a bounded number under way."""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace

from netapi.outcomes import Outcome
from rpc.audit import AuditLog
from search_core.domain import CandidateRecord, CandidateStatus, EpochMetrics, SearchRecord
from search_core.engine.evaluation import CandidateContext, StageCaller, evaluate, finish_as
from search_core.engine.observer import SearchObserver
from search_core.engine.proposals import Proposal, SearchMethod, slot_rng
from search_core.scores import steering_scores
from search_core.search_config import SearchConfig
from search_core.services import DependencyRefused, Services
from search_core.store import StoreUnavailable
from search_core.store.async_store import AsyncStore

log = logging.getLogger(__name__)

# (search_id, kind, payload): stores one search event
EventSink = Callable[[str, str, dict], Awaitable[None]]


class SearchRun:
    """Runs one search's candidates from wherever the store says they stopped until its
    budget is planned and every candidate has ended; the caller sets the search's state."""

    def __init__(
        self,
        search: SearchRecord,
        config: SearchConfig,
        method: SearchMethod,
        *,
        store: AsyncStore,
        services: Services,
        stage_caller: StageCaller,
        dedup_lock: asyncio.Lock,
        emit: EventSink,
        observer: SearchObserver,
        is_cancelled: Callable[[], bool],
        max_in_flight: int,
        default_model: str = "",
        audit: AuditLog | None = None,
    ) -> None:
        self._search = search
        self._config = config
        self._method = method
        self._store = store
        self._emit = emit
        self._observer = observer
        self._is_cancelled = is_cancelled  # a cancel by the API, not a shutdown
        self._max_in_flight = max_in_flight
        self._history: list[CandidateRecord] = []  # ended candidates, in the order they ended
        self._in_flight: set[asyncio.Task] = set()
        self._context = CandidateContext(
            config=config,
            store=store,
            services=services,
            call=stage_caller,
            dedup_lock=dedup_lock,
            on_finished=self._candidate_finished,
            on_epoch=self._candidate_epoch,
            default_model=default_model,
            audit=audit,
        )

    async def run(self) -> None:
        """Resume the unfinished candidates, then plan new ones until the budget is spent."""
        candidates = await self._store.search_candidates(self._search.search_id)
        self._history.extend(
            sorted((c for c in candidates if c.is_done), key=lambda c: (c.finished_at or 0, c.slot))
        )
        for candidate in (c for c in candidates if not c.is_done):
            proposal = None
            if candidate.status == CandidateStatus.PLANNED:
                proposal = self._propose(candidate.slot)
            self._in_flight.add(self._spawn(candidate, proposal))
        next_slot = max((c.slot for c in candidates), default=-1) + 1
        try:
            await self._fill(next_slot)
        finally:
            for task in self._in_flight:
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _fill(self, next_slot: int) -> None:
        """Keep max_in_flight candidates under way until the budget is planned and all ended."""
        budget = self._config.max_candidates
        while next_slot < budget or self._in_flight:
            while len(self._in_flight) < self._max_in_flight and next_slot < budget:
                self._in_flight.add(await self._plan(next_slot))
                next_slot += 1
            done, _ = await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            self._in_flight -= done
            for task in done:  # the store went away under a candidate: stop the search
                if not task.cancelled() and isinstance(task.exception(), StoreUnavailable):
                    raise task.exception()

    def _propose(self, slot: int) -> Proposal:
        """The method's proposal, made from a history whose test figures are held out."""
        history = [replace(c, scores=steering_scores(c.scores)) for c in self._history]
        return self._method.propose(slot, slot_rng(self._config, slot), history)

    async def _plan(self, slot: int) -> asyncio.Task:
        """Save a new candidate for `slot` with the method's proposal and start it."""
        proposal = self._propose(slot)
        candidate = CandidateRecord(
            candidate_id=f"c-{uuid.uuid4().hex[:16]}",
            search_id=self._search.search_id,
            tenant_id=self._search.tenant_id,
            slot=slot,
            prompt_variant=self._config.prompt_variant,
            genome=proposal.genome,
        )
        await self._store.put_candidate(candidate)
        return self._spawn(candidate, proposal)

    def _spawn(self, candidate: CandidateRecord, proposal: Proposal | None) -> asyncio.Task:
        return asyncio.create_task(
            self._evaluate(candidate, proposal), name=f"candidate-{candidate.candidate_id}"
        )

    async def _evaluate(self, candidate: CandidateRecord, proposal: Proposal | None) -> None:
        """One candidate to its end; our own failures end it as infra_error, not the search."""
        ctx = self._context
        try:
            await evaluate(ctx, candidate, proposal)
        except DependencyRefused as exc:
            await finish_as(ctx, candidate, Outcome.INFRA_ERROR, "DependencyRefused", str(exc))
        except asyncio.CancelledError:
            if self._is_cancelled():
                await finish_as(
                    ctx, candidate, Outcome.CANCELLED, "Cancelled", "the search was cancelled"
                )
            raise
        except StoreUnavailable:
            raise  # nothing can be saved: the search stops and resumes from the store
        except Exception as exc:
            log.exception("candidate %s failed on our side", candidate.candidate_id)
            await finish_as(
                ctx, candidate, Outcome.INFRA_ERROR, type(exc).__name__, str(exc)[:2000]
            )

    async def _candidate_finished(self, candidate: CandidateRecord) -> None:
        self._history.append(candidate)
        await self._emit(self._search.search_id, "candidate_finished", candidate_summary(candidate))
        self._observer.candidate_finished(
            candidate, self._config.method, self._config.prompt_variant
        )

    async def _candidate_epoch(self, candidate: CandidateRecord, epoch: EpochMetrics) -> None:
        await self._emit(
            self._search.search_id,
            "candidate_epoch",
            {"candidate_id": candidate.candidate_id, **asdict(epoch)},
        )


def candidate_summary(candidate: CandidateRecord) -> dict:
    """The event payload of a finished candidate (also what ListCandidates shows)."""
    return {
        "candidate_id": candidate.candidate_id,
        "name": candidate.name,
        "outcome": (candidate.outcome or Outcome.INFRA_ERROR).value,
        "score": candidate.score,
        "scores": candidate.scores,
        "parameter_count": candidate.parameter_count,
        "flops": candidate.flops,
        "parent": candidate.parent,
        "generator": candidate.generator.value,
        "finished_at": candidate.finished_at,
    }
