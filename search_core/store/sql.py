"""The Store written once in SQL both SQLite and PostgreSQL run; backends only connect."""

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from netapi.outcomes import Outcome
from search_core.domain import (
    ACTIVE_STATES,
    CandidateRecord,
    CandidateStatus,
    KnowledgeTreeRecord,
    Method,
    Page,
    SearchEvent,
    SearchRecord,
    SearchState,
    Tenant,
    ZooModel,
)
from search_core.store.base import ActiveSearchLimitReached, StoreError
from search_core.store.codec import (
    CANDIDATES,
    EVENTS,
    KNOWLEDGE_TREES,
    SEARCHES,
    TENANTS,
    ZOO_MODELS,
    RecordCodec,
)
from search_core.store.connection import Connector
from search_core.store.dialect import Tx, placeholders
from search_core.store.leases import LeaseQueries
from search_core.store.schema import apply_migrations, load_migrations

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
DEFAULT_EVENT_LIMIT = 500
DEFAULT_LEADERBOARD_LIMIT = 10


def _insert(codec: RecordCodec[Any], on_conflict: str = "") -> str:
    columns = codec.write_columns
    sql = f"INSERT INTO {codec.table} ({', '.join(columns)}) VALUES ({placeholders(len(columns))})"
    return f"{sql} {on_conflict}".strip()


def _upsert(codec: RecordCodec[Any]) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in codec.write_columns if c != codec.key)
    return _insert(codec, f"ON CONFLICT ({codec.key}) DO UPDATE SET {updates}")


def _within_search(search_id: str) -> tuple[str, list[str]]:
    """The SQL condition (and its parameter) limiting a candidates query to one search, when
    a search is named; none otherwise."""
    return (" AND search_id = ?", [search_id]) if search_id else ("", [])


def _select(codec: RecordCodec[Any], alias: str = "") -> str:
    table = f"{codec.table} {alias}".strip()
    return f"SELECT {codec.select_list(alias)} FROM {table}"


# A candidate's place in the finishing order (finished_at is set when it is DONE; a record
# written without one still gets a stable place).
_FINISH_KEY = "COALESCE(c.finished_at, c.created_at)"
_DONE = CandidateStatus.DONE.value


def _token(position: list[Any]) -> str:
    """An opaque page token for a listing position: [scope, key, id]."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _read_token(scope: str, token: str, what: str) -> tuple[float, str]:
    """The (key, id) a token of `_token` stands for; ValueError if it is not one of `scope`'s."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        token_scope, key, item_id = json.loads(raw)
        position = (float(key), str(item_id))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise ValueError("invalid page token") from exc
    if token_scope != scope:
        raise ValueError(f"the page token belongs to another {what}")
    return position


def _page_token(search_id: str, candidate: CandidateRecord) -> str:
    key = candidate.finished_at if candidate.finished_at is not None else candidate.created_at
    return _token([search_id, key, candidate.candidate_id])


def _read_page_token(search_id: str, token: str) -> tuple[float, str]:
    """The position a candidates page token stands for; ValueError if not this search's."""
    return _read_token(search_id, token, "search")


def _read_search_token(tenant_id: str, token: str) -> tuple[float, str]:
    """The position a searches page token stands for; ValueError if not this tenant's."""
    return _read_token(f"searches:{tenant_id}", token, "listing")


def _clamp(value: int, default: int) -> int:
    return default if value <= 0 else min(value, MAX_PAGE_SIZE)


class SqlStore(LeaseQueries, Connector):
    """Every Store method as SQL, each one transaction on a connection its backend lends.

    A subclass sets `dialect` and implements `_lend()` and `close()` (see connection.Connector).
    """

    # -- lifecycle
    def migrate(self) -> int:
        migrations = load_migrations()
        with self._transaction(write=True) as tx:
            return apply_migrations(tx, migrations)

    # -- tenants
    def ensure_tenant(self, tenant: Tenant) -> Tenant:
        with self._transaction(write=True) as tx:
            tx.execute(
                _insert(TENANTS, "ON CONFLICT (tenant_id) DO NOTHING"), TENANTS.encode(tenant)
            )
            row = tx.one(f"{_select(TENANTS)} WHERE tenant_id = ?", (tenant.tenant_id,))
        if row is None:  # cannot happen: inserted or already there, in this transaction
            raise StoreError(f"tenant {tenant.tenant_id!r} vanished while being ensured")
        return TENANTS.decode(row)

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        with self._transaction() as tx:
            row = tx.one(f"{_select(TENANTS)} WHERE tenant_id = ?", (tenant_id,))
        return TENANTS.decode(row) if row else None

    def list_tenants(self) -> list[Tenant]:
        with self._transaction() as tx:
            rows = tx.all(f"{_select(TENANTS)} ORDER BY created_at, tenant_id")
        return [TENANTS.decode(row) for row in rows]

    # -- searches
    def create_search(
        self, search: SearchRecord, *, active_limit: int | None = None
    ) -> tuple[SearchRecord, bool]:
        with self._transaction(write=True) as tx:
            if active_limit is not None:
                # Checked and inserted under the tenant's lock: concurrent submits, from any
                # process, cannot all see room for one more.
                if self.dialect.tenant_lock:
                    tx.execute(self.dialect.tenant_lock, (search.tenant_id,))
                earlier = self._same_request(tx, search)
                if earlier is not None:
                    return earlier, False
                states = [state.value for state in ACTIVE_STATES]
                (active,) = tx.one(
                    "SELECT COUNT(*) FROM searches"
                    f" WHERE tenant_id = ? AND state IN ({placeholders(len(states))})",
                    (search.tenant_id, *states),
                )
                if active >= active_limit:
                    raise ActiveSearchLimitReached(search.tenant_id, active, active_limit)
            # DO NOTHING (rather than a look-up first) stays right when two processes
            # create the same request at once: the second waits on the unique index.
            if tx.execute(_insert(SEARCHES, "ON CONFLICT DO NOTHING"), SEARCHES.encode(search)):
                return search, True
            earlier = self._same_request(tx, search)
            if earlier is not None:
                return earlier, False
        raise StoreError(f"search {search.search_id!r} already exists")

    @staticmethod
    def _same_request(tx: Tx, search: SearchRecord) -> SearchRecord | None:
        """The tenant's stored search with the same non-empty client_request_id."""
        if not search.client_request_id:
            return None
        row = tx.one(
            f"{_select(SEARCHES)} WHERE tenant_id = ? AND client_request_id = ?",
            (search.tenant_id, search.client_request_id),
        )
        return SEARCHES.decode(row) if row is not None else None

    def get_search(self, tenant_id: str, search_id: str) -> SearchRecord | None:
        with self._transaction() as tx:
            row = tx.one(
                f"{_select(SEARCHES)} WHERE tenant_id = ? AND search_id = ?",
                (tenant_id, search_id),
            )
        return SEARCHES.decode(row) if row else None

    def list_searches(
        self, tenant_id: str | None = None, states: Iterable[SearchState] | None = None
    ) -> list[SearchRecord]:
        where, params = ["1 = 1"], []
        if tenant_id is not None:
            where.append("tenant_id = ?")
            params.append(tenant_id)
        if states is not None:
            values = [SearchState(state).value for state in states]
            if not values:
                return []
            where.append(f"state IN ({placeholders(len(values))})")
            params.extend(values)
        query = f"{_select(SEARCHES)} WHERE {' AND '.join(where)} ORDER BY created_at, search_id"
        with self._transaction() as tx:
            rows = tx.all(query, params)
        return [SEARCHES.decode(row) for row in rows]

    def search_page(
        self,
        tenant_id: str,
        states: Iterable[SearchState] = (),
        methods: Iterable[Method] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str = "",
    ) -> Page:
        """The tenant's searches, newest first (created_at, then id), keyset-paged.

        page_size <= 0 means the default (50), larger than 1000 means 1000; a token that is
        not one of this listing's raises ValueError. Searches submitted while a client pages
        through appear on no later page (they are newer than the first), none is repeated.
        """
        size = _clamp(page_size, DEFAULT_PAGE_SIZE)
        where, params = ["tenant_id = ?"], [tenant_id]
        for column, values in (
            ("state", [SearchState(s).value for s in states]),
            ("method", [Method(m).value for m in methods]),
        ):
            if values:
                where.append(f"{column} IN ({placeholders(len(values))})")
                params.extend(values)
        if page_token:
            created_at, search_id = _read_search_token(tenant_id, page_token)
            where.append("(created_at < ? OR (created_at = ? AND search_id < ?))")
            params.extend([created_at, created_at, search_id])
        query = (
            f"{_select(SEARCHES)} WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, search_id DESC LIMIT ?"
        )
        with self._transaction() as tx:
            rows = tx.all(query, [*params, size + 1])
        items = [SEARCHES.decode(row) for row in rows[:size]]
        token = ""
        if len(rows) > size:
            last = items[-1]
            token = _token([f"searches:{tenant_id}", last.created_at, last.search_id])
        return Page(items=items, next_token=token)

    def update_search(self, search: SearchRecord) -> None:
        """Persist state, finished_at, error and status_message; StoreError if unknown."""
        with self._transaction(write=True) as tx:
            self._update_search_row(tx, search)

    def update_search_and_append_event(
        self, search: SearchRecord, kind: str, payload: dict[str, Any]
    ) -> SearchEvent:
        """update_search and append_event in one transaction: a reader that finds the search
        ended also finds the event that says so (a watch ends only after its last event)."""
        with self._transaction(write=True) as tx:
            self._update_search_row(tx, search)
            return self._append_event_row(tx, search.search_id, kind, payload)

    @staticmethod
    def _update_search_row(tx: Tx, search: SearchRecord) -> None:
        changed = tx.execute(
            "UPDATE searches SET state = ?, finished_at = ?, error_type = ?,"
            " error_message = ?, status_message = ? WHERE search_id = ?",
            (
                SearchState(search.state).value,
                search.finished_at,
                search.error_type,
                search.error_message,
                search.status_message,
                search.search_id,
            ),
        )
        if not changed:
            raise StoreError(f"no search {search.search_id!r} to update")

    # -- events
    def append_event(self, search_id: str, kind: str, payload: dict[str, Any]) -> SearchEvent:
        """Append with the next sequence of its search; StoreError if the search is unknown.

        The counter lives on the search row: the UPDATE takes that row's write lock (a row
        lock on PostgreSQL, the database write lock on SQLite) until commit, so concurrent
        appends from any number of connections get 1, 2, 3, ... with no gap or repeat.
        """
        with self._transaction(write=True) as tx:
            return self._append_event_row(tx, search_id, kind, payload)

    @staticmethod
    def _append_event_row(
        tx: Tx, search_id: str, kind: str, payload: dict[str, Any]
    ) -> SearchEvent:
        row = tx.one(
            "UPDATE searches SET last_event_sequence = last_event_sequence + 1"
            " WHERE search_id = ? RETURNING last_event_sequence",
            (search_id,),
        )
        if row is None:
            raise StoreError(f"no search {search_id!r} to append an event to")
        event = SearchEvent(search_id=search_id, sequence=int(row[0]), kind=kind, payload=payload)
        tx.execute(_insert(EVENTS), EVENTS.encode(event))
        return event

    def events_after(
        self, tenant_id: str, search_id: str, after_sequence: int, limit: int = DEFAULT_EVENT_LIMIT
    ) -> list[SearchEvent]:
        with self._transaction() as tx:
            rows = tx.all(
                f"SELECT {EVENTS.select_list('e')} FROM events e"
                " JOIN searches s ON s.search_id = e.search_id"
                " WHERE s.tenant_id = ? AND e.search_id = ? AND e.sequence > ?"
                " ORDER BY e.sequence LIMIT ?",
                (tenant_id, search_id, after_sequence, _clamp(limit, DEFAULT_EVENT_LIMIT)),
            )
        return [EVENTS.decode(row) for row in rows]

    # -- candidates
    def put_candidate(self, candidate: CandidateRecord) -> None:
        """Insert or replace by candidate_id.

        Another candidate on a taken (search_id, slot), or a search that does not exist,
        raises StoreError (the driver's IntegrityError is its __cause__).
        """
        with self._transaction(write=True) as tx:
            tx.execute(_upsert(CANDIDATES), CANDIDATES.encode(candidate))

    def get_candidate(self, tenant_id: str, candidate_id: str) -> CandidateRecord | None:
        with self._transaction() as tx:
            row = tx.one(
                f"{_select(CANDIDATES, 'c')} WHERE c.tenant_id = ? AND c.candidate_id = ?",
                (tenant_id, candidate_id),
            )
        return CANDIDATES.decode(row) if row else None

    def search_candidates(self, search_id: str) -> list[CandidateRecord]:
        with self._transaction() as tx:
            rows = tx.all(
                f"{_select(CANDIDATES, 'c')} WHERE c.search_id = ? ORDER BY c.slot", (search_id,)
            )
        return [CANDIDATES.decode(row) for row in rows]

    def list_candidates(
        self,
        tenant_id: str,
        search_id: str,
        outcomes: Iterable[Outcome] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str = "",
    ) -> Page:
        """DONE candidates in finishing order (finished_at, then id), keyset-paged.

        page_size <= 0 means the default (50), larger than 1000 means 1000; a token that is
        not this search's raises ValueError. Candidates finishing while a client pages
        through appear on a later page, none is skipped or repeated.
        """
        size = _clamp(page_size, DEFAULT_PAGE_SIZE)
        where = ["c.tenant_id = ?", "c.search_id = ?", "c.status = ?"]
        params: list[Any] = [tenant_id, search_id, _DONE]
        wanted = [Outcome(outcome).value for outcome in outcomes]
        if wanted:
            where.append(f"c.outcome IN ({placeholders(len(wanted))})")
            params.extend(wanted)
        if page_token:
            key, candidate_id = _read_page_token(search_id, page_token)
            where.append(f"({_FINISH_KEY} > ? OR ({_FINISH_KEY} = ? AND c.candidate_id > ?))")
            params.extend([key, key, candidate_id])
        query = (
            f"{_select(CANDIDATES, 'c')} WHERE {' AND '.join(where)}"
            f" ORDER BY {_FINISH_KEY}, c.candidate_id LIMIT ?"
        )
        with self._transaction() as tx:
            rows = tx.all(query, [*params, size + 1])
        items = [CANDIDATES.decode(row) for row in rows[:size]]
        more = len(rows) > size
        return Page(items=items, next_token=_page_token(search_id, items[-1]) if more else "")

    def leaderboard(
        self,
        tenant_id: str,
        *,
        search_id: str = "",
        task: str = "",
        limit: int = DEFAULT_LEADERBOARD_LIMIT,
    ) -> list[CandidateRecord]:
        """Successful DONE candidates with a score, best first; limit <= 0 means 10."""
        where = ["c.tenant_id = ?", "c.status = ?", "c.outcome = ?", "c.score IS NOT NULL"]
        params: list[Any] = [tenant_id, _DONE, Outcome.SUCCESS.value]
        if search_id:
            where.append("c.search_id = ?")
            params.append(search_id)
        if task:
            where.append("s.task = ?")
            params.append(task)
        query = (
            f"SELECT {CANDIDATES.select_list('c')} FROM candidates c"
            " JOIN searches s ON s.search_id = c.search_id"
            f" WHERE {' AND '.join(where)}"
            " ORDER BY c.score DESC, c.finished_at ASC NULLS LAST, c.candidate_id LIMIT ?"
        )
        with self._transaction() as tx:
            rows = tx.all(query, [*params, _clamp(limit, DEFAULT_LEADERBOARD_LIMIT)])
        return [CANDIDATES.decode(row) for row in rows]

    def code_signatures(
        self, tenant_id: str, exclude_candidate_id: str, search_id: str = ""
    ) -> list[tuple[str, list[int]]]:
        within, params = _within_search(search_id)
        with self._transaction() as tx:
            rows = tx.all(
                "SELECT name, candidate_id, signature FROM candidates"
                " WHERE tenant_id = ? AND candidate_id <> ? AND signature IS NOT NULL"
                f"{within} ORDER BY created_at, candidate_id",
                [tenant_id, exclude_candidate_id, *params],
            )
        return [
            (name or candidate_id, json.loads(signature)) for name, candidate_id, signature in rows
        ]

    def find_duplicate(
        self,
        tenant_id: str,
        code_md5: str,
        structure_hash: str,
        exclude_candidate_id: str,
        search_id: str = "",
    ) -> CandidateRecord | None:
        """The earliest other candidate of the tenant, with code, sharing a non-empty hash.

        An exact code match wins over a structure match. Any candidate whose code is stored
        counts, whenever it was planned: the engine stores code only after this check, under
        its dedup lock, so "stored first" is what makes a candidate the original.
        """
        same, params = [], []
        for column, value in (("code_md5", code_md5), ("structure_hash", structure_hash)):
            if value:
                same.append(f"c.{column} = ?")
                params.append(value)
        if not same:
            return None
        within, scope = _within_search(search_id)
        with self._transaction() as tx:
            row = tx.one(
                f"{_select(CANDIDATES, 'c')} WHERE c.tenant_id = ? AND c.candidate_id <> ?"
                f" AND c.code <> '' AND ({' OR '.join(same)}){within}"
                " ORDER BY CASE WHEN c.code_md5 = ? THEN 0 ELSE 1 END, c.created_at,"
                " c.candidate_id LIMIT 1",
                [tenant_id, exclude_candidate_id, *params, *scope, code_md5],
            )
        return CANDIDATES.decode(row) if row else None

    def outcome_counts(self, search_id: str) -> dict[str, int]:
        """DONE candidates of a search per outcome value; outcomes with none are absent."""
        with self._transaction() as tx:
            rows = tx.all(
                "SELECT outcome, COUNT(*) FROM candidates"
                " WHERE search_id = ? AND status = ? AND outcome IS NOT NULL"
                " GROUP BY outcome ORDER BY outcome",
                (search_id, _DONE),
            )
        return {str(outcome): int(count) for outcome, count in rows}

    # -- zoo
    def put_zoo_model(self, model: ZooModel) -> None:
        with self._transaction(write=True) as tx:
            tx.execute(_upsert(ZOO_MODELS), ZOO_MODELS.encode(model))

    def get_zoo_model(self, name: str) -> ZooModel | None:
        with self._transaction() as tx:
            row = tx.one(f"{_select(ZOO_MODELS)} WHERE name = ?", (name,))
        return ZOO_MODELS.decode(row) if row else None

    def list_zoo_models(self, task: str | None = None) -> list[ZooModel]:
        with self._transaction() as tx:
            if task is None:
                rows = tx.all(f"{_select(ZOO_MODELS)} ORDER BY name")
            else:
                rows = tx.all(f"{_select(ZOO_MODELS)} WHERE task = ? ORDER BY name", (task,))
        return [ZOO_MODELS.decode(row) for row in rows]

    # -- knowledge trees
    def put_knowledge_tree(self, tree: KnowledgeTreeRecord) -> None:
        with self._transaction(write=True) as tx:
            tx.execute(_upsert(KNOWLEDGE_TREES), KNOWLEDGE_TREES.encode(tree))

    def get_knowledge_tree(self, name: str) -> KnowledgeTreeRecord | None:
        with self._transaction() as tx:
            row = tx.one(f"{_select(KNOWLEDGE_TREES)} WHERE name = ?", (name,))
        return KNOWLEDGE_TREES.decode(row) if row else None
