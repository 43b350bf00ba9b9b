"""Search leases and controls, written once in SQL for both backends (a mixin of SqlStore).

A search in ACTIVE_STATES is run by the replica that holds its lease: `owner` and
`lease_expires_at` on its row, on the database's clock. The owner renews its leases with
a heartbeat (`renew_leases`); a lease not renewed in time expires and `claim_searches`
lets any replica take the search over. Every claim is one conditional UPDATE on the row,
so of two replicas claiming the same search exactly one gets it. A control asked through
the API (`request_control`) is written on the row; the owner reads it back with its next
renewal and carries it out. A search paused by its user is claimed by nobody until resumed.
"""

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from search_core.domain import ACTIVE_STATES
from search_core.store.base import ClaimedSearch, Control, SearchLease
from search_core.store.codec import SEARCHES
from search_core.store.dialect import Dialect, Tx, placeholders

_ACTIVE = tuple(state.value for state in ACTIVE_STATES)
_IS_ACTIVE = f"state IN ({placeholders(len(_ACTIVE))})"
# Searches looked at per claim round, oldest first, before they are shared out by tenant.
_CLAIM_WINDOW = 200


def _fair_order(
    rows: list[tuple[Any, ...]], tenants_last: Sequence[str]
) -> Iterator[tuple[Any, ...]]:
    """Rows (oldest first) in turns across tenants: each tenant's oldest, then each one's
    second oldest, ... so one tenant's backlog does not take every free place. Tenants in
    `tenants_last` take their turns after the others, in that order."""
    queues: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        queues.setdefault(row[1], []).append(row)
    rank = {tenant: index for index, tenant in enumerate(tenants_last)}
    queues = dict(sorted(queues.items(), key=lambda item: rank.get(item[0], -1)))
    while queues:
        for tenant in list(queues):
            yield queues[tenant].pop(0)
            if not queues[tenant]:
                del queues[tenant]


class LeaseQueries:
    """The lease half of SqlStore (which supplies `dialect` and `_transaction`)."""

    dialect: Dialect
    if TYPE_CHECKING:  # supplied by connection.Connector

        def _transaction(self, write: bool = False) -> AbstractContextManager[Tx]: ...

    def claim_searches(
        self, owner: str, lease_seconds: float, limit: int, tenants_last: Sequence[str] = ()
    ) -> list[ClaimedSearch]:
        if limit <= 0:
            return []
        clock = self.dialect.clock
        claimed: list[ClaimedSearch] = []
        with self._transaction(write=True) as tx:
            rows = tx.all(
                f"SELECT search_id, tenant_id, owner FROM searches WHERE {_IS_ACTIVE}"
                f" AND requested <> 'pause' AND lease_expires_at < {clock}"
                " ORDER BY created_at, search_id LIMIT ?",
                (*_ACTIVE, _CLAIM_WINDOW),
            )
            for search_id, _tenant, previous in _fair_order(rows, tenants_last):
                if len(claimed) == limit:
                    break
                row = self._take(tx, search_id, owner, lease_seconds)
                if row is not None:
                    claimed.append(ClaimedSearch(SEARCHES.decode(row), previous))
        return claimed

    def claim_search(self, search_id: str, owner: str, lease_seconds: float) -> bool:
        with self._transaction(write=True) as tx:
            return self._take(tx, search_id, owner, lease_seconds, mine_too=True) is not None

    def _take(
        self, tx: Tx, search_id: str, owner: str, lease_seconds: float, mine_too: bool = False
    ) -> Any:
        """Give `owner` the search when its lease has expired (or is already `owner`'s);
        the search's row then, else None (someone else holds it, or it has ended)."""
        clock = self.dialect.clock
        mine = " OR owner = ?" if mine_too else ""
        return tx.one(
            f"UPDATE searches SET owner = ?, lease_expires_at = {clock} + ?"
            f" WHERE search_id = ? AND {_IS_ACTIVE} AND (lease_expires_at < {clock}{mine})"
            f" RETURNING {SEARCHES.select_list()}",
            (owner, lease_seconds, search_id, *_ACTIVE, *([owner] if mine_too else [])),
        )

    def renew_leases(self, owner: str, lease_seconds: float) -> dict[str, Control]:
        with self._transaction(write=True) as tx:
            rows = tx.all(
                f"UPDATE searches SET lease_expires_at = {self.dialect.clock} + ?"
                f" WHERE owner = ? AND {_IS_ACTIVE} RETURNING search_id, requested",
                (lease_seconds, owner, *_ACTIVE),
            )
        return {search_id: Control(requested) for search_id, requested in rows}

    def release_lease(self, search_id: str, owner: str) -> None:
        with self._transaction(write=True) as tx:
            tx.execute(
                "UPDATE searches SET owner = '', lease_expires_at = 0"
                " WHERE search_id = ? AND owner = ?",
                (search_id, owner),
            )

    def request_control(self, tenant_id: str, search_id: str, control: Control) -> bool:
        with self._transaction(write=True) as tx:
            return bool(
                tx.execute(
                    f"UPDATE searches SET requested = ?"
                    f" WHERE tenant_id = ? AND search_id = ? AND {_IS_ACTIVE}",
                    (control.value, tenant_id, search_id, *_ACTIVE),
                )
            )

    def lease(self, search_id: str) -> SearchLease | None:
        with self._transaction() as tx:
            row = tx.one(
                f"SELECT owner, lease_expires_at - {self.dialect.clock}, requested"
                " FROM searches WHERE search_id = ?",
                (search_id,),
            )
        if row is None:
            return None
        owner, left, requested = row
        return SearchLease(owner=owner, seconds_left=float(left), requested=Control(requested))
