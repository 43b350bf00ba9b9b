"""SearchEngine: submits, runs, pauses, resumes and cancels searches.

Each running search is one asyncio task (a SearchRun) that keeps up to
`max_in_flight_per_search` candidates under way; stage bounds shared by all searches give
back-pressure. State lives in the store: after a restart `start()` picks every unfinished
search up again.

A tenant may have `running_searches` searches queued, running or paused (its registry
quota, else max_running_searches_per_tenant); a submit beyond that is refused and stores
nothing. The store counts and inserts in one transaction, so concurrent submits (to this
process or to replicas sharing the store) cannot overshoot. Of those,
`max_running_searches` (all tenants) run at once; the rest wait for a slot, which FairSlots
hands out fairly across tenants.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from rpc.admission import exceeded, tenant_limit
from rpc.audit import AuditLog
from rpc.errors import InvalidArgument, NotFound
from rpc.tenant import set_current_tenant
from rpc.tenants import Quotas
from search_core.domain import ACTIVE_STATES, SearchEvent, SearchRecord, SearchState, Tenant, now
from search_core.engine.fair_slots import FairSlots
from search_core.engine.observer import NoObserver, SearchObserver
from search_core.engine.proposals import NotInStore, SearchMethod
from search_core.engine.scheduling import StageGates
from search_core.engine.search_run import SearchRun, candidate_summary
from search_core.engine.stage_retry import StageRetry
from search_core.knowledge.tree import KnowledgeTreeError
from search_core.search_config import SearchConfig, SearchConfigError, parse_config
from search_core.services import DependencyDown, Services
from search_core.store.base import ActiveSearchLimitReached, Store

__all__ = ["EngineSettings", "MethodFactory", "SearchEngine", "candidate_summary"]

log = logging.getLogger(__name__)

MethodFactory = Callable[[SearchConfig, str], SearchMethod]  # (config, tenant) -> method
_WATCH_POLL_SECONDS = 1.0

# Errors that mean the search's configuration cannot run (a wrong field, a zoo model or a
# knowledge tree the store lacks, a stored tree that does not parse): the search ends
# FAILED with the reason. Any other exception is a bug of ours, logged with its traceback.
_BAD_CONFIGURATION = (SearchConfigError, InvalidArgument, NotInStore, KnowledgeTreeError)


class EngineSettings(Protocol):
    """The settings the engine reads (search_core.config.SearchCoreSettings has them)."""

    max_generations: int
    max_checks: int
    max_checks_per_tenant: int | None
    max_trainings: int
    separate_llm_and_training: bool
    cpu_slice_seconds: float
    max_in_flight_per_search: int
    max_running_searches: int
    max_running_searches_per_tenant: int
    retry_backoff_max_seconds: float
    default_model: str


class SearchEngine:
    def __init__(
        self,
        store: Store,
        services: Services,
        settings: EngineSettings,
        method_factory: MethodFactory,
        observer: SearchObserver | None = None,
        *,
        quotas: Callable[[str], Quotas] | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._store = store
        self._services = services
        self._settings = settings
        self._method_factory = method_factory
        self._observer = observer or NoObserver()
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

    # -- per-tenant quotas

    def running_searches_limit(self, tenant_id: str) -> int:
        """Searches the tenant may have queued, running or paused at once."""
        return tenant_limit(
            self._quotas,
            tenant_id,
            "running_searches",
            self._settings.max_running_searches_per_tenant,
        )

    def _checks_per_tenant(self, tenant: str) -> int:
        """A tenant's checks at once: its registry quota, else the setting."""
        return tenant_limit(
            self._quotas,
            tenant,
            "concurrent_checks",
            self._settings.max_checks_per_tenant or self._settings.max_checks,
        )

    def _admit(self, record: SearchRecord) -> tuple[SearchRecord, bool]:
        """Store the search unless its tenant is at its running-searches quota (then
        QuotaExceeded); (the stored search, whether it is new)."""
        limit = self.running_searches_limit(record.tenant_id)
        try:
            return self._store.create_search(record, active_limit=limit)
        except ActiveSearchLimitReached as full:
            raise exceeded(
                record.tenant_id, "running_searches", used=full.active, limit=limit
            ) from None

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
        record = SearchRecord(
            search_id=f"s-{uuid.uuid4().hex[:16]}",
            tenant_id=tenant_id,
            method=config.method,
            config=config.to_dict(),
            client_request_id=client_request_id,
        )
        stored, created = self._admit(record)
        if created:
            self._store.ensure_tenant(Tenant(tenant_id))
            self._emit(stored.search_id, "state_changed", {"state": SearchState.QUEUED.value})
            self._launch(stored)
        return stored

    @property
    def services(self) -> Services:
        """The gateway, sandbox and trainer this engine's searches use."""
        return self._services

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
                await self._run_to_end(search)
        except asyncio.CancelledError:
            if self._cancelled_by_api(search.search_id):
                self._set_state(search, SearchState.CANCELLED)
            raise
        except _BAD_CONFIGURATION as exc:
            log.warning("search %s cannot run: %s", search.search_id, exc)
            self._set_state(search, SearchState.FAILED, type(exc).__name__, str(exc))
        except Exception as exc:
            log.exception("search %s failed: internal error", search.search_id)
            message = f"internal error: {type(exc).__name__}: {exc}"[:2000]
            self._set_state(search, SearchState.FAILED, type(exc).__name__, message)

    async def _run_to_end(self, search: SearchRecord) -> None:
        config = parse_config(search.config)
        run = SearchRun(
            search,
            config,
            self._method_factory(config, search.tenant_id),
            store=self._store,
            services=self._services,
            stage_caller=self._stage_retry(search),
            dedup_lock=self._dedup_locks.setdefault(search.tenant_id, asyncio.Lock()),
            emit=self._emit,
            observer=self._observer,
            is_cancelled=lambda: self._cancelled_by_api(search.search_id),
            max_in_flight=self._settings.max_in_flight_per_search,
            default_model=self._settings.default_model,
            audit=self._audit,
        )
        self._set_state(search, SearchState.RUNNING)
        await run.run()
        self._set_state(search, SearchState.SUCCEEDED)

    def _cancelled_by_api(self, search_id: str) -> bool:
        """A cancel asked through the API, as opposed to this process shutting down."""
        return search_id in self._cancelling and not self._closing

    def _stage_retry(self, search: SearchRecord) -> StageRetry:
        def pause(failure: DependencyDown) -> None:
            message = f"waiting for {failure.service}: {failure.detail}"[:500]
            if search.state != SearchState.PAUSED or search.status_message != message:
                log.warning("search %s paused: %s", search.search_id, message)
                self._set_state(search, SearchState.PAUSED, status_message=message)

        def answered() -> None:
            if search.state == SearchState.PAUSED:
                self._set_state(search, SearchState.RUNNING)

        return StageRetry(
            self._gates,
            search_id=search.search_id,
            tenant_id=search.tenant_id,
            backoff_max_seconds=self._settings.retry_backoff_max_seconds,
            observer=self._observer,
            on_pause=pause,
            on_answer=answered,
        )

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
        counts: dict[SearchState, int] = {}
        for search in self._store.list_searches(None):
            counts[search.state] = counts.get(search.state, 0) + 1
        self._observer.search_states(counts)
