"""SearchEngine: submits, runs, pauses, resumes and cancels searches.

Each running search is one asyncio task (a SearchRun) that keeps up to
`max_in_flight_per_search` candidates under way; stage bounds shared by all searches give
back-pressure. State lives in the store, and so does who runs what: a replica runs a search
only while it holds the search's lease (engine/leases.py), so replicas sharing a store run
each search once, a dead replica's searches are taken over, and a restarted one picks its
unfinished searches up again. Cancel and pause are recorded in the store and carried out by
whichever replica holds the search; watch reads the store, so any replica serves them.

A tenant may have `running_searches` searches queued, running or paused (its registry
quota, else max_running_searches_per_tenant); a submit beyond that is refused and stores
nothing. The store counts and inserts in one transaction, so concurrent submits (to this
process or to replicas sharing the store) cannot overshoot. Of those,
`max_running_searches` (all tenants) run at once on a replica; the rest stay queued in the
store until a replica has room, and are claimed in turns across tenants.
"""

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Protocol

from rpc.admission import exceeded, tenant_limit
from rpc.audit import AuditLog
from rpc.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from rpc.tenant import set_current_tenant
from rpc.tenants import Quotas
from search_core.domain import SearchEvent, SearchRecord, SearchState, Tenant, now
from search_core.engine.fair_slots import FairSlots
from search_core.engine.leases import LeaseKeeper, new_replica_id
from search_core.engine.observer import NoObserver, SearchObserver
from search_core.engine.proposals import NotInStore, SearchMethod
from search_core.engine.scheduling import StageGates
from search_core.engine.search_run import SearchRun, candidate_summary
from search_core.engine.stage_retry import StageRetry
from search_core.knowledge.tree import KnowledgeTreeError
from search_core.search_config import SearchConfig, SearchConfigError, parse_config
from search_core.services import DependencyDown, Services
from search_core.store import ClaimedSearch, Control, Store, StoreError, StoreUnavailable
from search_core.store.async_store import AsyncStore
from search_core.store.base import ActiveSearchLimitReached

__all__ = ["EngineSettings", "MethodFactory", "SearchEngine", "candidate_summary"]

log = logging.getLogger(__name__)

MethodFactory = Callable[[SearchConfig, str], Awaitable[SearchMethod]]  # (config, tenant)
_WATCH_POLL_SECONDS = 1.0
_CONTROL_POLL_SECONDS = 0.2
USER_PAUSE = "paused by the user"

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
    replica_id: str
    lease_seconds: float


class SearchEngine:
    def __init__(
        self,
        store: Store | AsyncStore,
        services: Services,
        settings: EngineSettings,
        method_factory: MethodFactory,
        observer: SearchObserver | None = None,
        *,
        quotas: Callable[[str], Quotas] | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._store = store if isinstance(store, AsyncStore) else AsyncStore(store)
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
        self._launched_at: dict[str, float] = {}  # running search -> monotonic launch time
        self._served: dict[str, int] = {}  # tenant -> when (a count) a search of it launched
        self._launches = itertools.count()
        self._search_slots = FairSlots(settings.max_running_searches)
        self._dedup_locks: dict[str, asyncio.Lock] = {}
        self._new_events = asyncio.Event()  # set and replaced on every event
        self._cancelling: set[str] = set()
        self._pausing: set[str] = set()
        self._claiming: set[str] = set()  # claimed by an API call, not launched yet
        self._parked: dict[str, SearchRecord] = {}  # stopped while the store was away
        self._closing = False
        self._leases = LeaseKeeper(
            self._store,
            self,
            owner=settings.replica_id or new_replica_id(),
            lease_seconds=settings.lease_seconds,
        )
        self._keeper: asyncio.Task | None = None
        self._chores: set[asyncio.Task] = set()  # see _later

    @property
    def store(self) -> AsyncStore:
        """The store as the engine calls it (off the event loop)."""
        return self._store

    @property
    def replica_id(self) -> str:
        return self._leases.owner

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

    async def _admit(self, record: SearchRecord) -> tuple[SearchRecord, bool]:
        """Store the search unless its tenant is at its running-searches quota (then
        QuotaExceeded); (the stored search, whether it is new)."""
        limit = self.running_searches_limit(record.tenant_id)
        try:
            return await self._store.create_search(record, active_limit=limit)
        except ActiveSearchLimitReached as full:
            raise exceeded(
                record.tenant_id, "running_searches", used=full.active, limit=limit
            ) from None

    # -- lifecycle

    async def start(self) -> list[str]:
        """Claim the searches no live replica holds (this one's own after a restart among
        them) and keep the leases from then on; return the ids claimed now."""
        claimed = await self._leases.round()
        if claimed:
            log.info("replica %s runs %d unfinished searches", self.replica_id, len(claimed))
        self._keep_leases()
        await self._publish_states()
        return claimed

    def _keep_leases(self) -> None:
        """Run the lease keeper from now on (start() does; a submit before it does too)."""
        if self._keeper is None and not self._closing:
            self._keeper = asyncio.create_task(self._leases.run(), name="search-leases")

    async def close(self) -> None:
        """Stop running searches without ending them and hand their leases back: they go on
        at the next start(), or on another replica at once."""
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        held = list(self._running)
        tasks = [*self._running.values(), *self._chores]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for search_id in held:
            try:
                await self._store.release_lease(search_id, self.replica_id)
            except StoreError as exc:  # it expires by itself
                log.warning("could not hand back search %s: %s", search_id, exc)

    # -- what the lease keeper asks (engine/leases.py LeaseHolder)

    def launched(self) -> dict[str, float]:
        return dict(self._launched_at)

    def free_places(self) -> int:
        return 0 if self._closing else self._settings.max_running_searches - len(self._running)

    def tenants_last(self) -> list[str]:
        """Tenants running searches here, fewest first, then the one served longest ago."""
        held = {tenant: self._search_slots.held(tenant) for tenant in self._served}
        return sorted(self._served, key=lambda tenant: (held[tenant], self._served[tenant]))

    def launch(self, claim: ClaimedSearch) -> None:
        search = claim.search
        if claim.previous_owner and claim.previous_owner != self.replica_id:
            self._record_takeover(search, claim.previous_owner)
        self._launch(search)

    def lost(self, search_id: str) -> None:
        task = self._running.get(search_id)
        if task is not None:
            task.cancel()  # not a cancel by the API: nothing is written

    def held_idle(self, search_id: str) -> None:
        search = self._parked.pop(search_id, None)
        if search is not None:
            self._launch(search)
        elif search_id not in self._claiming:  # nothing here to run it: let another
            self._later(self._store.release_lease(search_id, self.replica_id), "release")

    def control(self, search_id: str, control: Control) -> None:
        if search_id in self._running:
            action = self._cancel_here if control is Control.CANCEL else self._pause_here
            self._later(action(search_id), f"{control.value}-{search_id}")

    def store_down(self, error: Exception) -> None:
        for search_id in list(self._running):
            self.lost(search_id)

    def store_back(self, seconds_away: float) -> None:
        log.warning("the store answers again after %.0f s", seconds_away)
        for search_id in list(self._parked):  # not ours any more: another replica runs them
            self._parked.pop(search_id)

    def _record_takeover(self, search: SearchRecord, previous_owner: str) -> None:
        if self._audit is not None:
            record = asyncio.to_thread(
                self._audit.record,
                "search_taken_over",
                search.tenant_id,
                search_id=search.search_id,
                previous_replica=previous_owner,
                replica=self.replica_id,
            )
            self._later(record, "audit-takeover")

    def _later(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        """Run `work` beside the caller (the keeper's callbacks are not coroutines)."""
        task = asyncio.create_task(work, name=name)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    # -- the API's operations, all scoped to a tenant

    async def submit(
        self, tenant_id: str, config: SearchConfig, client_request_id: str = ""
    ) -> SearchRecord:
        """Store a search and run it here when this replica has room (else it waits, queued,
        for the first replica that has); the stored one again for a repeated
        client_request_id (even at the quota: a retry answers as the first time did)."""
        record = SearchRecord(
            search_id=f"s-{uuid.uuid4().hex[:16]}",
            tenant_id=tenant_id,
            method=config.method,
            config=config.to_dict(),
            client_request_id=client_request_id,
        )
        self._keep_leases()
        stored, created = await self._admit(record)
        if created:
            await self._store.ensure_tenant(Tenant(tenant_id))
            await self._emit(stored.search_id, "state_changed", {"state": SearchState.QUEUED.value})
            if self.free_places() > 0 and await self._claim(stored.search_id):
                self._launch(stored)
                self._claiming.discard(stored.search_id)
        return stored

    async def _claim(self, search_id: str) -> bool:
        """Take the search's lease for an API call (kept in _claiming until it is used)."""
        self._claiming.add(search_id)
        if await self._store.claim_search(search_id, self.replica_id, self._leases.lease_seconds):
            return True
        self._claiming.discard(search_id)
        return False

    @property
    def services(self) -> Services:
        """The gateway, sandbox and trainer this engine's searches use."""
        return self._services

    async def get(self, tenant_id: str, search_id: str) -> SearchRecord:
        search = await self._store.get_search(tenant_id, search_id)
        if search is None:
            raise NotFound(f"no search {search_id!r}")
        return search

    async def cancel(self, tenant_id: str, search_id: str) -> SearchState:
        """End the search, on whichever replica runs it; its state when the call returns."""
        search = await self.get(tenant_id, search_id)
        if search.state.is_terminal:
            return search.state
        await self._store.request_control(tenant_id, search_id, Control.CANCEL)
        search = await self._carry_out(search, Control.CANCEL, lambda s: s.state.is_terminal)
        return search.state

    async def pause(self, tenant_id: str, search_id: str) -> SearchState:
        """Stop the search where it is (its candidates under way resume later) until
        resume(); no replica runs it meanwhile."""
        search = await self.get(tenant_id, search_id)
        if search.state.is_terminal:
            raise FailedPrecondition(f"search {search_id} has ended ({search.state.value})")
        await self._store.request_control(tenant_id, search_id, Control.PAUSE)
        search = await self._carry_out(search, Control.PAUSE, _paused_by_user)
        return search.state

    async def resume(self, tenant_id: str, search_id: str) -> SearchState:
        """Queue a search its user paused again (any replica with room takes it)."""
        search = await self.get(tenant_id, search_id)
        if not _paused_by_user(search):
            raise FailedPrecondition(
                f"search {search_id} is {search.state.value}, not paused by its user"
            )
        await self._store.request_control(tenant_id, search_id, Control.NONE)
        await self._set_state(search, SearchState.QUEUED)
        self._leases.wake()
        return search.state

    async def _carry_out(
        self, search: SearchRecord, control: Control, done: Callable[[SearchRecord], bool]
    ) -> SearchRecord:
        """Carry `control` out here if this replica runs the search or nobody does; else wait
        for the replica that does (it reads the control with its next lease renewal)."""
        search_id = search.search_id
        patience = 2 * self._leases.lease_seconds + 5  # the owner's renewal, or its lease
        deadline = time.monotonic() + patience
        while not done(search):
            if search_id in self._running:
                await (self._cancel_here if control is Control.CANCEL else self._pause_here)(
                    search_id
                )
            elif await self._claim(search_id):
                try:
                    search = await self.get(search.tenant_id, search_id)
                    if not done(search):
                        state = SearchState.CANCELLED if control is Control.CANCEL else None
                        await self._set_state(
                            search,
                            state or SearchState.PAUSED,
                            status_message="" if state else USER_PAUSE,
                        )
                    await self._store.release_lease(search_id, self.replica_id)
                finally:
                    self._claiming.discard(search_id)
            else:
                if time.monotonic() > deadline:
                    raise Unavailable(
                        f"the replica running search {search_id} did not answer within "
                        f"{patience:.0f}s; the {control.value} is recorded and will be "
                        "carried out by whichever replica runs it next"
                    )
                await asyncio.sleep(_CONTROL_POLL_SECONDS)
            search = await self.get(search.tenant_id, search_id)
        return search

    async def _cancel_here(self, search_id: str) -> None:
        await self._stop_here(search_id, self._cancelling)

    async def _pause_here(self, search_id: str) -> None:
        await self._stop_here(search_id, self._pausing)

    async def _stop_here(self, search_id: str, reason: set[str]) -> None:
        """Cancel the search's task for `reason` (_cancelling or _pausing); its _run writes
        the state the reason calls for."""
        task = self._running.get(search_id)
        if task is None:
            return
        if search_id not in reason:  # asked again while stopping: only wait
            reason.add(search_id)
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def watch(
        self, tenant_id: str, search_id: str, after_sequence: int = 0
    ) -> AsyncIterator[SearchEvent]:
        """Events after `after_sequence`, live, until the search has ended and all are sent."""
        await self.get(tenant_id, search_id)
        while True:
            signal = self._new_events  # taken before reading, so no event slips between
            events = await self._store.events_after(tenant_id, search_id, after_sequence)
            for event in events:
                after_sequence = event.sequence
                yield event
            if events:
                continue
            if (await self.get(tenant_id, search_id)).state.is_terminal:
                if not await self._store.events_after(tenant_id, search_id, after_sequence, 1):
                    return
                continue
            try:
                await asyncio.wait_for(signal.wait(), _WATCH_POLL_SECONDS)
            except TimeoutError:
                pass  # another process may write the store: look again

    # -- running a search

    def _launch(self, search: SearchRecord) -> None:
        search_id = search.search_id
        if search_id in self._running:
            return
        task = asyncio.create_task(self._run(search), name=f"search-{search_id}")
        self._served[search.tenant_id] = next(self._launches)
        self._running[search_id] = task
        self._launched_at[search_id] = time.monotonic()
        task.add_done_callback(lambda _: self._ended(search_id))

    def _ended(self, search_id: str) -> None:
        self._running.pop(search_id, None)
        self._launched_at.pop(search_id, None)
        self._cancelling.discard(search_id)
        self._pausing.discard(search_id)
        if not self._closing:
            self._leases.wake()  # a place is free

    async def _run(self, search: SearchRecord) -> None:
        # Calls to the other services act for the search's tenant (inherited by its candidates).
        set_current_tenant(search.tenant_id)
        try:
            async with self._search_slots.hold(search.tenant_id):
                await self._run_to_end(search)
        except asyncio.CancelledError:
            if self._cancelled_by_api(search.search_id):
                await self._set_state(search, SearchState.CANCELLED)
            elif self._paused_by_api(search.search_id):
                await self._set_state(search, SearchState.PAUSED, status_message=USER_PAUSE)
                await self._store.release_lease(search.search_id, self.replica_id)
            raise
        except StoreUnavailable as exc:
            # Nothing can be saved: stop here, resume from the store's state when it is back.
            log.warning("search %s stopped, the store is unreachable: %s", search.search_id, exc)
            self._parked[search.search_id] = search
            return
        except _BAD_CONFIGURATION as exc:
            log.warning("search %s cannot run: %s", search.search_id, exc)
            await self._set_state(search, SearchState.FAILED, type(exc).__name__, str(exc))
        except Exception as exc:
            log.exception("search %s failed: internal error", search.search_id)
            message = f"internal error: {type(exc).__name__}: {exc}"[:2000]
            await self._set_state(search, SearchState.FAILED, type(exc).__name__, message)

    async def _run_to_end(self, search: SearchRecord) -> None:
        config = parse_config(search.config)
        run = SearchRun(
            search,
            config,
            await self._method_factory(config, search.tenant_id),
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
        await self._set_state(search, SearchState.RUNNING)
        await run.run()
        await self._set_state(search, SearchState.SUCCEEDED)

    def _cancelled_by_api(self, search_id: str) -> bool:
        """A cancel asked through the API, as opposed to this process shutting down."""
        return search_id in self._cancelling and not self._closing

    def _paused_by_api(self, search_id: str) -> bool:
        return search_id in self._pausing and not self._closing

    def _stage_retry(self, search: SearchRecord) -> StageRetry:
        async def pause(failure: DependencyDown) -> None:
            message = f"waiting for {failure.service}: {failure.detail}"[:500]
            if search.state != SearchState.PAUSED or search.status_message != message:
                log.warning("search %s paused: %s", search.search_id, message)
                await self._set_state(search, SearchState.PAUSED, status_message=message)

        async def answered() -> None:
            if search.state == SearchState.PAUSED:
                await self._set_state(search, SearchState.RUNNING)

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

    async def _set_state(
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
            self._launched_at.pop(search.search_id, None)  # its lease ends with it
        payload = {"state": state.value}
        if status_message or error_message:
            payload["message"] = status_message or error_message
        # One transaction: a watch (on any replica) that finds the search ended has its event.
        await self._store.update_search_and_append_event(search, "state_changed", payload)
        self._signal_new_events()
        await self._publish_states()

    async def _emit(self, search_id: str, kind: str, payload: dict) -> None:
        await self._store.append_event(search_id, kind, payload)
        self._signal_new_events()

    def _signal_new_events(self) -> None:
        signal, self._new_events = self._new_events, asyncio.Event()
        signal.set()

    async def _publish_states(self) -> None:
        counts: dict[SearchState, int] = {}
        for search in await self._store.list_searches(None):
            counts[search.state] = counts.get(search.state, 0) + 1
        self._observer.search_states(counts)


def _paused_by_user(search: SearchRecord) -> bool:
    return search.state is SearchState.PAUSED and search.status_message == USER_PAUSE
