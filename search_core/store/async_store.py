"""AsyncStore: the Store for asyncio code, each call run on a bounded pool of threads.

The Store's methods block (a transaction each); called from a coroutine they would stop the
event loop for as long as the database takes. AsyncStore runs every call on a thread of its
own executor, sized to how many transactions the backend can run at once (the connection
pool's size on PostgreSQL, one on SQLite), so calls beyond that queue here rather than
holding threads that wait for a connection.

Every Store method has a one-line coroutine below, spelled out so that readers and type
checkers see the API: a method added to the Store gets its line here too (the unit test
tests/unit/search_core/store/test_async_store.py fails until it has).

A coroutine cancelled while its call runs does not stop the call: the transaction runs to
its end (committed or rolled back) on its thread, and its result is dropped.
"""

import asyncio
import functools
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, Self, TypeVar

from netapi.outcomes import Outcome
from search_core.domain import (
    CandidateRecord,
    KnowledgeTreeRecord,
    Method,
    Page,
    SearchEvent,
    SearchRecord,
    SearchState,
    Tenant,
    ZooModel,
)
from search_core.store.base import (
    ClaimedSearch,
    Control,
    SearchLease,
    Store,
    StoreError,
)

P = ParamSpec("P")
T = TypeVar("T")


class AsyncStore:
    """`store`'s methods as coroutines, run on at most `workers` threads: by default as many
    as the store can run transactions at once (its `max_connections`, 1 if it has none).

    The AsyncStore owns the store it wraps: close() closes it too.
    """

    def __init__(self, store: Store, *, workers: int | None = None) -> None:
        size = getattr(store, "max_connections", 1) if workers is None else workers
        if size < 1:
            raise ValueError(f"an AsyncStore needs at least one worker, not {size}")
        self.sync = store  # for code that owns a thread: startup, the CLI, tests
        self.workers = size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="store")
        self._closed = False

    async def _call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def close(self) -> None:
        """Wait for the calls under way, then close the store; later calls raise StoreError."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._shut_down)

    def _shut_down(self) -> None:
        self._executor.shutdown(wait=True)
        self.sync.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- lifecycle
    async def migrate(self) -> int:
        return await self._call(self.sync.migrate)

    # -- tenants
    async def ensure_tenant(self, tenant: Tenant) -> Tenant:
        return await self._call(self.sync.ensure_tenant, tenant)

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        return await self._call(self.sync.get_tenant, tenant_id)

    async def list_tenants(self) -> list[Tenant]:
        return await self._call(self.sync.list_tenants)

    # -- searches
    async def create_search(
        self, search: SearchRecord, *, active_limit: int | None = None
    ) -> tuple[SearchRecord, bool]:
        return await self._call(self.sync.create_search, search, active_limit=active_limit)

    async def get_search(self, tenant_id: str, search_id: str) -> SearchRecord | None:
        return await self._call(self.sync.get_search, tenant_id, search_id)

    async def list_searches(
        self, tenant_id: str | None = None, states: Iterable[SearchState] | None = None
    ) -> list[SearchRecord]:
        return await self._call(self.sync.list_searches, tenant_id, states)

    async def search_page(
        self,
        tenant_id: str,
        states: Iterable[SearchState] = (),
        methods: Iterable[Method] = (),
        page_size: int = 50,
        page_token: str = "",
    ) -> Page:
        return await self._call(
            self.sync.search_page, tenant_id, states, methods, page_size, page_token
        )

    async def update_search(self, search: SearchRecord) -> None:
        return await self._call(self.sync.update_search, search)

    async def update_search_and_append_event(
        self, search: SearchRecord, kind: str, payload: dict[str, Any]
    ) -> SearchEvent:
        return await self._call(self.sync.update_search_and_append_event, search, kind, payload)

    # -- leases
    async def claim_searches(
        self, owner: str, lease_seconds: float, limit: int, tenants_last: Sequence[str] = ()
    ) -> list[ClaimedSearch]:
        return await self._call(self.sync.claim_searches, owner, lease_seconds, limit, tenants_last)

    async def claim_search(self, search_id: str, owner: str, lease_seconds: float) -> bool:
        return await self._call(self.sync.claim_search, search_id, owner, lease_seconds)

    async def renew_leases(self, owner: str, lease_seconds: float) -> dict[str, Control]:
        return await self._call(self.sync.renew_leases, owner, lease_seconds)

    async def release_lease(self, search_id: str, owner: str) -> None:
        return await self._call(self.sync.release_lease, search_id, owner)

    async def request_control(self, tenant_id: str, search_id: str, control: Control) -> bool:
        return await self._call(self.sync.request_control, tenant_id, search_id, control)

    async def lease(self, search_id: str) -> SearchLease | None:
        return await self._call(self.sync.lease, search_id)

    # -- events
    async def append_event(self, search_id: str, kind: str, payload: dict[str, Any]) -> SearchEvent:
        return await self._call(self.sync.append_event, search_id, kind, payload)

    async def events_after(
        self, tenant_id: str, search_id: str, after_sequence: int, limit: int = 500
    ) -> list[SearchEvent]:
        return await self._call(self.sync.events_after, tenant_id, search_id, after_sequence, limit)

    # -- candidates
    async def put_candidate(self, candidate: CandidateRecord) -> None:
        return await self._call(self.sync.put_candidate, candidate)

    async def get_candidate(self, tenant_id: str, candidate_id: str) -> CandidateRecord | None:
        return await self._call(self.sync.get_candidate, tenant_id, candidate_id)

    async def search_candidates(self, search_id: str) -> list[CandidateRecord]:
        return await self._call(self.sync.search_candidates, search_id)

    async def list_candidates(
        self,
        tenant_id: str,
        search_id: str,
        outcomes: Iterable[Outcome] = (),
        page_size: int = 50,
        page_token: str = "",
    ) -> Page:
        return await self._call(
            self.sync.list_candidates, tenant_id, search_id, outcomes, page_size, page_token
        )

    async def leaderboard(
        self, tenant_id: str, *, search_id: str = "", task: str = "", limit: int = 10
    ) -> list[CandidateRecord]:
        return await self._call(
            self.sync.leaderboard, tenant_id, search_id=search_id, task=task, limit=limit
        )

    async def find_duplicate(
        self,
        tenant_id: str,
        code_md5: str,
        structure_hash: str,
        exclude_candidate_id: str,
        search_id: str = "",
    ) -> CandidateRecord | None:
        return await self._call(
            self.sync.find_duplicate,
            tenant_id,
            code_md5,
            structure_hash,
            exclude_candidate_id,
            search_id,
        )

    async def code_signatures(
        self, tenant_id: str, exclude_candidate_id: str, search_id: str = ""
    ) -> list[tuple[str, list[int]]]:
        return await self._call(
            self.sync.code_signatures, tenant_id, exclude_candidate_id, search_id
        )

    async def outcome_counts(self, search_id: str) -> dict[str, int]:
        return await self._call(self.sync.outcome_counts, search_id)

    # -- zoo
    async def put_zoo_model(self, model: ZooModel) -> None:
        return await self._call(self.sync.put_zoo_model, model)

    async def get_zoo_model(self, name: str) -> ZooModel | None:
        return await self._call(self.sync.get_zoo_model, name)

    async def list_zoo_models(self, task: str | None = None) -> list[ZooModel]:
        return await self._call(self.sync.list_zoo_models, task)

    # -- knowledge trees
    async def put_knowledge_tree(self, tree: KnowledgeTreeRecord) -> None:
        return await self._call(self.sync.put_knowledge_tree, tree)

    async def get_knowledge_tree(self, name: str) -> KnowledgeTreeRecord | None:
        return await self._call(self.sync.get_knowledge_tree, name)
