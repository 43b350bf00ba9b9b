"""Leases and controls: one owner per active search, expiry, takeover, controls for the owner."""

import time
from collections.abc import Callable

from search_core.domain import SearchState
from search_core.store import Control, Store
from tests.unit.search_core.store.contract.fixtures import StoreFixtures, run_together, search

LONG = 60.0  # a lease that does not expire during a test
EXPIRED = -1.0  # a lease that has already expired when written


class LeasesContract(StoreFixtures):
    def test_a_new_search_is_claimed_once_then_held(self, store: Store) -> None:
        store.create_search(search("s1"))
        claimed = store.claim_searches("a", LONG, 10)
        assert [(c.search.search_id, c.previous_owner) for c in claimed] == [("s1", "")]
        assert store.claim_searches("b", LONG, 10) == []
        lease = store.lease("s1")
        assert lease is not None and lease.owner == "a" and lease.live
        assert 50 < lease.seconds_left <= LONG

    def test_replicas_claiming_at_once_never_share_a_search(
        self, store: Store, open_store_again: Callable[[], Store]
    ) -> None:
        for index in range(12):
            store.create_search(search(f"s{index:02d}"))
        stores = [open_store_again() for _ in range(4)]
        claims = run_together(
            4, lambda i: [c.search.search_id for c in stores[i].claim_searches(f"r{i}", LONG, 5)]
        )
        every = [search_id for claim in claims for search_id in claim]
        assert sorted(every) == [f"s{index:02d}" for index in range(12)]  # each once

    def test_an_expired_lease_is_taken_over_and_its_owner_loses_it(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.claim_searches("dead", EXPIRED, 1)
        assert not store.lease("s1").live
        claimed = store.claim_searches("b", LONG, 1)
        assert [(c.search.search_id, c.previous_owner) for c in claimed] == [("s1", "dead")]
        assert store.renew_leases("dead", LONG) == {}  # the old owner learns it is gone
        assert store.renew_leases("b", LONG) == {"s1": Control.NONE}

    def test_a_renewed_lease_is_not_taken(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.claim_searches("a", 0.5, 1)
        store.renew_leases("a", LONG)
        time.sleep(0.6)
        assert store.claim_searches("b", LONG, 1) == []

    def test_ended_and_user_paused_searches_are_not_claimed(self, store: Store) -> None:
        store.create_search(search("done", state=SearchState.SUCCEEDED))
        store.create_search(search("paused"))
        assert store.request_control("t1", "paused", Control.PAUSE)
        assert store.claim_searches("a", LONG, 10) == []
        assert store.request_control("t1", "paused", Control.NONE)  # resumed
        assert [c.search.search_id for c in store.claim_searches("a", LONG, 10)] == ["paused"]

    def test_the_limit_is_shared_out_across_tenants(self, store: Store) -> None:
        for index in range(3):
            store.create_search(search(f"a{index}", tenant_id="ta", created_at=index))
        store.create_search(search("b0", tenant_id="tb", created_at=10))
        claimed = store.claim_searches("r", LONG, 2)
        assert [c.search.search_id for c in claimed] == ["a0", "b0"]

    def test_a_control_reaches_the_owner_with_its_renewal(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.claim_searches("a", LONG, 1)
        assert store.request_control("t1", "s1", Control.CANCEL)
        assert store.renew_leases("a", LONG) == {"s1": Control.CANCEL}
        assert store.lease("s1").requested == Control.CANCEL

    def test_controls_are_scoped_to_the_tenant_and_to_active_searches(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.create_search(search("s2", state=SearchState.CANCELLED))
        assert not store.request_control("other", "s1", Control.CANCEL)
        assert not store.request_control("t1", "s2", Control.CANCEL)
        assert not store.request_control("t1", "nope", Control.CANCEL)
        assert store.lease("s1").requested == Control.NONE

    def test_claim_search_takes_a_free_one_keeps_ones_own_and_refuses_anothers(
        self, store: Store
    ) -> None:
        store.create_search(search("s1"))
        assert store.claim_search("s1", "a", LONG)
        assert store.claim_search("s1", "a", LONG)  # already its own
        assert not store.claim_search("s1", "b", LONG)
        store.release_lease("s1", "b")  # not b's: nothing happens
        assert store.lease("s1").owner == "a"
        store.release_lease("s1", "a")
        assert store.lease("s1").owner == "" and store.claim_search("s1", "b", LONG)

    def test_a_lease_ends_with_its_search(self, store: Store) -> None:
        record, _ = store.create_search(search("s1"))
        store.claim_searches("a", LONG, 1)
        record.state = SearchState.SUCCEEDED
        store.update_search(record)
        assert store.renew_leases("a", LONG) == {}
        assert not store.claim_search("s1", "b", LONG)
