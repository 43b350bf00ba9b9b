"""SearchEngine: submits, runs, pauses, resumes and cancels searches.

Each running search is one asyncio task that keeps up to `max_in_flight_per_search`
candidates under way; stage bounds shared by all searches give back-pressure. State
lives in the store: after a restart `start()` picks every unfinished search up again.

A tenant may have `running_searches` searches queued, running or paused (its registry
quota, else max_running_searches_per_tenant); a submit beyond that is refused and stores
nothing. The store counts and inserts in one transaction, so concurrent submits (to this
process or to replicas sharing the store) cannot overshoot. Of those,
`max_running_searches` (all tenants) run at once; the rest wait for a slot, which FairSlots
hands out fairly across tenants.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict

from netapi.outcomes import Outcome
from rpc.audit import AuditLog
from rpc.errors import InvalidArgument, NotFound, QuotaExceeded, QuotaViolation
from rpc.tenant import set_current_tenant
from rpc.tenants import Quotas
from search_core.config import SearchCoreSettings
from search_core.domain import (
    ACTIVE_STATES,
    CandidateRecord,
    CandidateStatus,
    EpochMetrics,
    SearchEvent,
    SearchRecord,
    SearchState,
    Tenant,
    now,
)
from search_core.engine.evaluation import CandidateContext, evaluate, finish_as
from search_core.engine.fair_slots import FairSlots
from search_core.engine.proposals import SearchMethod, slot_rng
from search_core.engine.scheduling import StageGates
from search_core.metrics import SearchMetrics
from search_core.search_config import SearchConfig, SearchConfigError, parse_config
from search_core.services import DependencyDown, DependencyRefused, Services
from search_core.store.base import ActiveSearchLimitReached, Store

log = logging.getLogger(__name__)

MethodFactory = Callable[[SearchConfig, str], SearchMethod]  # (config, tenant) -> method
_WATCH_POLL_SECONDS = 1.0


class SearchEngine:
    def __init__(
        self,
        store: Store,
        services: Services,
        settings: SearchCoreSettings,
        method_factory: MethodFactory,
        metrics: SearchMetrics | None = None,
        *,
        quotas: Callable[[str], Quotas] | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._store = store
        self._services = services
        self._settings = settings
        self._method_factory = method_factory
        self._metrics = metrics
        self._quotas = quotas  # tenant -> its registry quotas (re-read as the file changes)
        self._audit = audit  # candidate_generated records
        self._gates = StageGates(
            {
                "generate": settings.max_generations,
                "check": settings.max_checks,
                "train": settings.max_trainings,
            },
            exclusive=settings.separate_llm_and_training,
            slice_seconds=settings.cpu_slice_seconds,
            per_tenant={"check": self._checks_per_tenant},
        )
        self._running: dict[str, asyncio.Task] = {}
        self._search_slots = FairSlots(settings.max_running_searches)
        self._dedup_locks: dict[str, asyncio.Lock] = {}
        self._new_events = asyncio.Event()  # set and replaced on every event
        self._cancelling: set[str] = set()
        self._closing = False

    def _checks_per_tenant(self, tenant: str) -> int:
        """A tenant's checks at once: its registry quota, else the setting."""
        quota = self._quotas(tenant).concurrent_checks if self._quotas is not None else None
        if quota is not None:
            return quota
        return self._settings.max_checks_per_tenant or self._settings.max_checks

    # -- lifecycle

    async def start(self) -> list[str]:
        """Resume every search that had not ended; return their ids."""
        resumed = []
        for search in self._store.list_searches(None, ACTIVE_STATES):
            self._launch(search)
            resumed.append(search.search_id)
        if resumed:
            log.info("resuming %d unfinished searches", len(resumed))
        self._publish_states()
        return resumed

    async def close(self) -> None:
        """Stop running searches without ending them: they resume at the next start()."""
        self._closing = True
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the API's operations, all scoped to a tenant

    def submit(
        self, tenant_id: str, config: SearchConfig, client_request_id: str = ""
    ) -> SearchRecord:
        """Store and launch a search; the stored one again for a repeated client_request_id
        (even at the quota: a retry of an accepted submit answers as the first time did)."""
        limit = self.running_searches_limit(tenant_id)
        record = SearchRecord(
            search_id=f"s-{uuid.uuid4().hex[:16]}",
            tenant_id=tenant_id,
            method=config.method,
            config=config.to_dict(),
            client_request_id=client_request_id,
        )
        try:
            stored, created = self._store.create_search(record, active_limit=limit)
        except ActiveSearchLimitReached as full:
            raise _running_searches_exceeded(tenant_id, full.active, limit) from None
        if created:
            self._store.ensure_tenant(Tenant(tenant_id))
            self._emit(stored.search_id, "state_changed", {"state": SearchState.QUEUED.value})
            self._launch(stored)
        return stored

    def running_searches_limit(self, tenant_id: str) -> int:
        """Searches the tenant may have queued, running or paused at once."""
        quota = self._quotas(tenant_id).running_searches if self._quotas else None
        return quota if quota is not None else self._settings.max_running_searches_per_tenant

    def get(self, tenant_id: str, search_id: str) -> SearchRecord:
        search = self._store.get_search(tenant_id, search_id)
        if search is None:
            raise NotFound(f"no search {search_id!r}")
        return search

    async def cancel(self, tenant_id: str, search_id: str) -> SearchState:
        search = self.get(tenant_id, search_id)
        if search.state.is_terminal:
            return search.state
        self._cancelling.add(search_id)
        task = self._running.get(search_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        search = self.get(tenant_id, search_id)
        if not search.state.is_terminal:  # no task, or one cancelled before it ever ran
            self._set_state(search, SearchState.CANCELLED)
        return SearchState.CANCELLED

    async def watch(
        self, tenant_id: str, search_id: str, after_sequence: int = 0
    ) -> AsyncIterator[SearchEvent]:
        """Events after `after_sequence`, live, until the search has ended and all are sent."""
        self.get(tenant_id, search_id)
        while True:
            signal = self._new_events  # taken before reading, so no event slips between
            events = self._store.events_after(tenant_id, search_id, after_sequence)
            for event in events:
                after_sequence = event.sequence
                yield event
            if events:
                continue
            if self.get(tenant_id, search_id).state.is_terminal:
                if not self._store.events_after(tenant_id, search_id, after_sequence, 1):
                    return
                continue
            try:
                await asyncio.wait_for(signal.wait(), _WATCH_POLL_SECONDS)
            except TimeoutError:
                pass  # another process may write the store: look again

    # -- running a search

    def _launch(self, search: SearchRecord) -> None:
        if search.search_id in self._running:
            return
        task = asyncio.create_task(self._run(search), name=f"search-{search.search_id}")
        self._running[search.search_id] = task
        task.add_done_callback(lambda _: self._running.pop(search.search_id, None))

    async def _run(self, search: SearchRecord) -> None:
        # Calls to the other services act for the search's tenant (inherited by its candidates).
        set_current_tenant(search.tenant_id)
        try:
            async with self._search_slots.hold(search.tenant_id):
                await self._run_budget(search)
        except asyncio.CancelledError:
            if search.search_id in self._cancelling and not self._closing:
                self._set_state(search, SearchState.CANCELLED)
            raise
        except (SearchConfigError, InvalidArgument, ValueError, LookupError) as exc:
            log.warning("search %s cannot run: %s", search.search_id, exc)
            self._set_state(search, SearchState.FAILED, type(exc).__name__, str(exc))
        except Exception as exc:
            log.exception("search %s failed", search.search_id)
            self._set_state(search, SearchState.FAILED, type(exc).__name__, str(exc)[:2000])

    async def _run_budget(self, search: SearchRecord) -> None:
        config = parse_config(search.config)
        method = self._method_factory(config, search.tenant_id)
        ctx = self._candidate_context(search, config)
        candidates = self._store.search_candidates(search.search_id)
        history = sorted(
            (c for c in candidates if c.is_done), key=lambda c: (c.finished_at or 0, c.slot)
        )
        ctx.on_finished = self._finished_callback(search, config, history)
        self._set_state(search, SearchState.RUNNING)
        in_flight: set[asyncio.Task] = set()
        for candidate in (c for c in candidates if not c.is_done):
            proposal = None
            if candidate.status == CandidateStatus.PLANNED:
                proposal = method.propose(candidate.slot, slot_rng(config, candidate.slot), history)
            in_flight.add(self._spawn(ctx, search, candidate, proposal))
        next_slot = max((c.slot for c in candidates), default=-1) + 1
        bound = self._settings.max_in_flight_per_search
        try:
            await self._fill(search, config, method, ctx, history, in_flight, next_slot, bound)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
        self._set_state(search, SearchState.SUCCEEDED)

    async def _fill(self, search, config, method, ctx, history, in_flight, next_slot, bound):
        """Keep `bound` candidates under way until the budget is planned and all have ended."""
        while next_slot < config.max_candidates or in_flight:
            while len(in_flight) < bound and next_slot < config.max_candidates:
                proposal = method.propose(next_slot, slot_rng(config, next_slot), history)
                candidate = CandidateRecord(
                    candidate_id=f"c-{uuid.uuid4().hex[:16]}",
                    search_id=search.search_id,
                    tenant_id=search.tenant_id,
                    slot=next_slot,
                    prompt_variant=config.prompt_variant,
                    genome=proposal.genome,
                )
                self._store.put_candidate(candidate)
                in_flight.add(self._spawn(ctx, search, candidate, proposal))
                next_slot += 1
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            in_flight -= done

    def _spawn(self, ctx, search, candidate, proposal) -> asyncio.Task:
        async def run_one() -> None:
            try:
                await evaluate(ctx, candidate, proposal)
            except DependencyRefused as exc:
                await finish_as(ctx, candidate, Outcome.INFRA_ERROR, "DependencyRefused", str(exc))
            except asyncio.CancelledError:
                if search.search_id in self._cancelling and not self._closing:
                    await finish_as(
                        ctx, candidate, Outcome.CANCELLED, "Cancelled", "the search was cancelled"
                    )
                raise
            except Exception as exc:
                log.exception("candidate %s failed on our side", candidate.candidate_id)
                await finish_as(
                    ctx, candidate, Outcome.INFRA_ERROR, type(exc).__name__, str(exc)[:2000]
                )

        return asyncio.create_task(run_one(), name=f"candidate-{candidate.candidate_id}")

    def _candidate_context(self, search: SearchRecord, config: SearchConfig) -> CandidateContext:
        async def on_epoch(candidate: CandidateRecord, epoch: EpochMetrics) -> None:
            self._emit(
                search.search_id,
                "candidate_epoch",
                {"candidate_id": candidate.candidate_id, **asdict(epoch)},
            )

        async def no_op(candidate: CandidateRecord) -> None:
            return None

        return CandidateContext(
            config=config,
            store=self._store,
            services=self._services,
            call=self._stage_caller(search),
            dedup_lock=self._dedup_locks.setdefault(search.tenant_id, asyncio.Lock()),
            on_finished=no_op,
            on_epoch=on_epoch,
            default_model=self._settings.default_model,
            audit=self._audit,
        )

    def _finished_callback(self, search: SearchRecord, config: SearchConfig, history: list):
        async def on_finished(candidate: CandidateRecord) -> None:
            history.append(candidate)
            self._emit(search.search_id, "candidate_finished", candidate_summary(candidate))
            if self._metrics is not None:
                self._metrics.candidate_finished(candidate, config.method, config.prompt_variant)

        return on_finished

    def _stage_caller(self, search: SearchRecord):
        async def call(stage: str, make_call):
            delay = 1.0
            while True:
                started = time.monotonic()
                async with self._gates.hold(stage, search.tenant_id):
                    log.info(
                        "search %s: %s started after %.1f s waiting",
                        search.search_id,
                        stage,
                        time.monotonic() - started,
                    )
                    try:
                        result = await make_call()
                    except DependencyDown as down:
                        failure = down
                    else:
                        log.info(
                            "search %s: %s done in %.1f s",
                            search.search_id,
                            stage,
                            time.monotonic() - started,
                        )
                        if self._metrics is not None:
                            self._metrics.stage_call(stage, time.monotonic() - started)
                        if search.state == SearchState.PAUSED:
                            self._set_state(search, SearchState.RUNNING)
                        return result
                self._pause(search, failure)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.retry_backoff_max_seconds)

        return call

    def _pause(self, search: SearchRecord, failure: DependencyDown) -> None:
        message = f"waiting for {failure.service}: {failure.detail}"[:500]
        if self._metrics is not None:
            self._metrics.paused(failure.service)
        if search.state != SearchState.PAUSED or search.status_message != message:
            log.warning("search %s paused: %s", search.search_id, message)
            self._set_state(search, SearchState.PAUSED, status_message=message)

    # -- state and events

    def _set_state(
        self,
        search: SearchRecord,
        state: SearchState,
        error_type: str = "",
        error_message: str = "",
        status_message: str = "",
    ) -> None:
        search.state = state
        search.status_message = status_message
        if error_type:
            search.error_type, search.error_message = error_type, error_message
        if state.is_terminal:
            search.finished_at = now()
        self._store.update_search(search)
        payload = {"state": state.value}
        if status_message or error_message:
            payload["message"] = status_message or error_message
        self._emit(search.search_id, "state_changed", payload)
        self._publish_states()

    def _emit(self, search_id: str, kind: str, payload: dict) -> None:
        self._store.append_event(search_id, kind, payload)
        signal, self._new_events = self._new_events, asyncio.Event()
        signal.set()

    def _publish_states(self) -> None:
        if self._metrics is None:
            return
        counts: dict[SearchState, int] = {}
        for search in self._store.list_searches(None):
            counts[search.state] = counts.get(search.state, 0) + 1
        self._metrics.search_states(counts)


def _running_searches_exceeded(tenant_id: str, active: int, limit: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"tenant {tenant_id} has {active} searches queued, running or paused, "
        f"its quota is {limit}: cancel one or wait until one ends",
        violations=(
            QuotaViolation(
                subject=f"tenant:{tenant_id}",
                quota_id="running_searches",
                limit=limit,
                description=f"{limit} searches queued, running or paused at once; {active} are",
            ),
        ),
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
