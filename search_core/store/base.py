"""The store interface every backend implements.

Every read that serves a caller takes the tenant and returns nothing for another tenant's
ids (the API turns that into NOT_FOUND). Writes by the engine are keyed by ids the engine
already scoped. All methods are synchronous and thread-safe; each is one transaction.
"""

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from netapi.outcomes import Outcome
from rpc.errors import Unavailable
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


class StoreError(RuntimeError):
    """The store could not do what was asked (a broken database, a failed migration)."""


class StoreUnavailable(StoreError, Unavailable):
    """The database could not be reached (refused, dropped, no pooled connection in time);
    the same call may work once it is back, unlike a StoreError of the query itself. An RPC
    that meets it answers UNAVAILABLE with its message."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"the search store cannot be reached ({detail}); running searches stop where "
            "they were saved and go on when it is back"
        )
        self.detail = detail


class ActiveSearchLimitReached(Exception):
    """create_search refused: the tenant already has `active` searches queued, running or
    paused, and `limit` is all it may have."""

    def __init__(self, tenant_id: str, active: int, limit: int) -> None:
        super().__init__(f"tenant {tenant_id} has {active} active searches; its limit is {limit}")
        self.tenant_id, self.active, self.limit = tenant_id, active, limit


class Control(enum.StrEnum):
    """What the API asked of a search's owner (kept on the search until carried out)."""

    NONE = ""
    CANCEL = "cancel"
    PAUSE = "pause"  # stop and hand the lease back; nobody claims it until resumed


@dataclass(frozen=True)
class ClaimedSearch:
    """A search a replica has just claimed, and who held it before ('' if nobody did)."""

    search: SearchRecord
    previous_owner: str


@dataclass(frozen=True)
class SearchLease:
    """Who runs a search: the owner ('' none), seconds its lease has left (negative when
    expired, by the database's clock) and the control waiting for it."""

    owner: str
    seconds_left: float
    requested: Control

    @property
    def live(self) -> bool:
        return bool(self.owner) and self.seconds_left > 0


class Store(Protocol):
    # -- lifecycle
    def migrate(self) -> int:
        """Apply pending schema migrations; return the schema version now in place."""

    def close(self) -> None: ...

    # -- tenants
    def ensure_tenant(self, tenant: Tenant) -> Tenant:
        """Create the tenant if it does not exist; return the stored one."""

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def list_tenants(self) -> list[Tenant]: ...

    # -- searches
    def create_search(
        self, search: SearchRecord, *, active_limit: int | None = None
    ) -> tuple[SearchRecord, bool]:
        """Insert the search; if (tenant, client_request_id) exists, return that one.

        Returns (stored search, created). An empty client_request_id never matches.
        With `active_limit`, insert only while the tenant has fewer searches in ACTIVE_STATES,
        else raise ActiveSearchLimitReached; the count and the insert are one transaction
        that no other create_search of the tenant interleaves with, in any process. A
        repeated client_request_id still returns its search at the limit.
        """

    def get_search(self, tenant_id: str, search_id: str) -> SearchRecord | None: ...

    def list_searches(
        self, tenant_id: str | None = None, states: Iterable[SearchState] | None = None
    ) -> list[SearchRecord]:
        """Searches, oldest first; tenant_id None lists every tenant's (engine use only)."""

    def search_page(
        self,
        tenant_id: str,
        states: Iterable[SearchState] = (),
        methods: Iterable[Method] = (),
        page_size: int = 50,
        page_token: str = "",
    ) -> Page:
        """The tenant's searches, newest first, filtered by state and method (none given: all),
        keyset-paged; page_token is opaque (another tenant's is refused with ValueError)."""

    def update_search(self, search: SearchRecord) -> None:
        """Persist state, finished_at, error and status_message."""

    def update_search_and_append_event(
        self, search: SearchRecord, kind: str, payload: dict[str, Any]
    ) -> SearchEvent:
        """update_search and append_event atomically: whoever sees the new state sees its
        event too."""

    # -- leases (search_core/store/leases.py)
    def claim_searches(
        self, owner: str, lease_seconds: float, limit: int, tenants_last: Sequence[str] = ()
    ) -> list[ClaimedSearch]:
        """Take up to `limit` active searches whose lease has expired (or that nobody held),
        oldest first in turns across tenants (those in `tenants_last` after the others, in
        that order), skipping those paused by their user; each is then `owner`'s for
        `lease_seconds`. Of replicas claiming at once, one gets each."""

    def claim_search(self, search_id: str, owner: str, lease_seconds: float) -> bool:
        """Take (or keep) one active search whose lease has expired or is `owner`'s."""

    def renew_leases(self, owner: str, lease_seconds: float) -> dict[str, Control]:
        """Extend every lease `owner` holds on an active search; {search_id: control asked}.
        A search missing from the answer is no longer `owner`'s (taken over, or ended)."""

    def release_lease(self, search_id: str, owner: str) -> None:
        """Hand the search back (only if `owner` holds it)."""

    def request_control(self, tenant_id: str, search_id: str, control: Control) -> bool:
        """Record `control` on the tenant's active search for its owner; False if the search
        is unknown, another tenant's or has ended."""

    def lease(self, search_id: str) -> SearchLease | None: ...

    # -- events
    def append_event(self, search_id: str, kind: str, payload: dict[str, Any]) -> SearchEvent:
        """Append an event with the next sequence number of its search (atomic)."""

    def events_after(
        self, tenant_id: str, search_id: str, after_sequence: int, limit: int = 500
    ) -> list[SearchEvent]: ...

    # -- candidates
    def put_candidate(self, candidate: CandidateRecord) -> None:
        """Insert or replace the candidate (by candidate_id); (search_id, slot) is unique."""

    def get_candidate(self, tenant_id: str, candidate_id: str) -> CandidateRecord | None: ...

    def search_candidates(self, search_id: str) -> list[CandidateRecord]:
        """Every candidate of a search, by slot (engine use)."""

    def list_candidates(
        self,
        tenant_id: str,
        search_id: str,
        outcomes: Iterable[Outcome] = (),
        page_size: int = 50,
        page_token: str = "",
    ) -> Page:
        """Finished candidates in the order they finished; page_token is opaque."""

    def leaderboard(
        self, tenant_id: str, *, search_id: str = "", task: str = "", limit: int = 10
    ) -> list[CandidateRecord]:
        """Successful candidates with a score, best first (ties: earliest finished)."""

    def find_duplicate(
        self,
        tenant_id: str,
        code_md5: str,
        structure_hash: str,
        exclude_candidate_id: str,
        search_id: str = "",
    ) -> CandidateRecord | None:
        """An earlier candidate of the tenant (of `search_id` only, when given) with the same
        code hash or module structure."""

    def code_signatures(
        self, tenant_id: str, exclude_candidate_id: str, search_id: str = ""
    ) -> list[tuple[str, list[int]]]:
        """(name, MinHash) of the tenant's other candidates (of `search_id` only, when given)
        whose code has a signature."""

    def outcome_counts(self, search_id: str) -> dict[str, int]:
        """Finished candidates of a search per outcome value."""

    # -- zoo
    def put_zoo_model(self, model: ZooModel) -> None: ...

    def get_zoo_model(self, name: str) -> ZooModel | None: ...

    def list_zoo_models(self, task: str | None = None) -> list[ZooModel]: ...

    # -- knowledge trees
    def put_knowledge_tree(self, tree: KnowledgeTreeRecord) -> None: ...

    def get_knowledge_tree(self, name: str) -> KnowledgeTreeRecord | None: ...
