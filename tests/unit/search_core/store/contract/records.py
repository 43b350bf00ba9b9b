"""Contract: migrations, tenants, searches, events, the zoo, knowledge trees, reopening."""

from collections.abc import Callable

import pytest

from search_core.domain import (
    KnowledgeTreeRecord,
    SearchState,
    Tenant,
    ZooModel,
)
from search_core.store import ActiveSearchLimitReached, Store, StoreError
from search_core.store.schema import load_migrations
from tests.unit.search_core.store.contract.fixtures import (
    CAPTIONING,
    CLASSIFICATION,
    StoreFixtures,
    candidate,
    run_together,
    search,
)


class RecordsContract(StoreFixtures):
    # -- lifecycle
    def test_migrate_is_idempotent_and_reports_the_version(
        self, store: Store, open_store_again: Callable[[], Store]
    ) -> None:
        latest = len(load_migrations())
        assert latest >= 1
        assert store.migrate() == latest
        assert store.migrate() == latest
        assert open_store_again().migrate() == latest

    def test_a_closed_store_refuses_calls(self, store: Store) -> None:
        store.close()
        with pytest.raises(StoreError, match="closed"):
            store.list_tenants()
        store.close()  # closing twice is harmless

    # -- tenants
    def test_tenants_ensure_get_and_list(self, store: Store) -> None:
        first = store.ensure_tenant(Tenant("acme", "Acme", created_at=100.0))
        assert first == Tenant("acme", "Acme", created_at=100.0)
        # Ensuring again returns the stored tenant unchanged.
        assert store.ensure_tenant(Tenant("acme", "Renamed", created_at=200.0)) == first
        store.ensure_tenant(Tenant("beta", created_at=50.0))
        assert store.get_tenant("acme") == first
        assert store.get_tenant("nobody") is None
        assert [t.tenant_id for t in store.list_tenants()] == ["beta", "acme"]

    # -- searches
    def test_create_search_is_idempotent_by_client_request_id(self, store: Store) -> None:
        original = search("s1", client_request_id="req-1", created_at=10.0)
        assert store.create_search(original) == (original, True)
        again, created = store.create_search(search("s2", client_request_id="req-1"))
        assert (again, created) == (original, False)
        assert store.get_search("t1", "s2") is None
        # The same request id from another tenant is another search.
        other, created = store.create_search(search("s3", "t2", client_request_id="req-1"))
        assert created and other.search_id == "s3"

    def test_an_empty_client_request_id_never_matches(self, store: Store) -> None:
        assert store.create_search(search("s1"))[1]
        assert store.create_search(search("s2"))[1]
        assert {s.search_id for s in store.list_searches("t1")} == {"s1", "s2"}

    def test_creating_a_search_id_twice_fails(self, store: Store) -> None:
        store.create_search(search("s1"))
        with pytest.raises(StoreError):
            store.create_search(search("s1", client_request_id="fresh"))

    def test_an_active_limit_counts_the_tenants_unfinished_searches(self, store: Store) -> None:
        store.create_search(search("done", state=SearchState.SUCCEEDED))
        store.create_search(search("other", "t2"))
        for state in (SearchState.QUEUED, SearchState.PAUSED):
            assert store.create_search(search(f"s-{state}", state=state), active_limit=3)[1]
        running = search("s-running", client_request_id="r", state=SearchState.RUNNING)
        assert store.create_search(running, active_limit=3) == (running, True)
        with pytest.raises(ActiveSearchLimitReached) as full:
            store.create_search(search("s-over", client_request_id="new"), active_limit=3)
        assert (full.value.tenant_id, full.value.active, full.value.limit) == ("t1", 3, 3)
        assert store.get_search("t1", "s-over") is None
        # A repeated request answers with its search, even at the limit.
        assert store.create_search(search("s-again", client_request_id="r"), active_limit=3) == (
            running,
            False,
        )
        assert store.create_search(search("s-t2", "t2"), active_limit=3)[1]
        with pytest.raises(ActiveSearchLimitReached):
            store.create_search(search("s-none", "t3"), active_limit=0)

    def test_concurrent_creates_never_pass_the_active_limit(
        self, store: Store, open_store_again: Callable[[], Store]
    ) -> None:
        """The attack: 20 submits of one tenant at once, over 4 connections (as 4 replicas
        would), with room for 2: a count taken before another's insert commits lets more in."""
        stores = [store, *(open_store_again() for _ in range(3))]

        def submit(index: int) -> bool | ActiveSearchLimitReached:
            record = search(f"s{index}", "acme", client_request_id=f"r{index}")
            try:
                return stores[index % 4].create_search(record, active_limit=2)[1]
            except ActiveSearchLimitReached as refused:
                return refused

        results = run_together(20, submit)
        assert results.count(True) == 2
        refusals = [r for r in results if isinstance(r, ActiveSearchLimitReached)]
        assert len(refusals) == 18
        assert {(r.active, r.limit) for r in refusals} == {(2, 2)}
        assert len(store.list_searches("acme")) == 2

    def test_get_search_round_trips_and_is_scoped_by_tenant(self, store: Store) -> None:
        record = search("s1", task=CAPTIONING, client_request_id="r", created_at=1.5)
        record.config["nested"] = {"list": [1, 2.5, "three", None], "flag": True}
        store.create_search(record)
        got = store.get_search("t1", "s1")
        assert got == record
        assert isinstance(got.method, type(record.method))
        assert isinstance(got.state, SearchState)
        assert store.get_search("t2", "s1") is None
        assert store.get_search("t1", "missing") is None

    def test_list_searches_oldest_first_by_tenant_and_state(self, store: Store) -> None:
        store.create_search(search("s-new", created_at=30.0))
        store.create_search(search("s-old", created_at=10.0, state=SearchState.RUNNING))
        store.create_search(search("s-other", "t2", created_at=20.0))
        assert [s.search_id for s in store.list_searches()] == ["s-old", "s-other", "s-new"]
        assert [s.search_id for s in store.list_searches("t1")] == ["s-old", "s-new"]
        running = store.list_searches(states=[SearchState.RUNNING, SearchState.PAUSED])
        assert [s.search_id for s in running] == ["s-old"]
        assert store.list_searches("t1", states=[SearchState.QUEUED])[0].search_id == "s-new"
        assert store.list_searches(states=[]) == []

    def test_update_search_persists_state_error_and_messages(self, store: Store) -> None:
        record = search("s1")
        store.create_search(record)
        record.state = SearchState.FAILED
        record.finished_at = 1234.5
        record.error_type = "budget_exhausted"
        record.error_message = "no candidate left"
        record.status_message = "stopped ✓"
        store.update_search(record)
        assert store.get_search("t1", "s1") == record
        record.state = SearchState.PAUSED  # and back again, finished_at cleared
        record.finished_at = None
        store.update_search(record)
        assert store.get_search("t1", "s1") == record

    def test_update_of_an_unknown_search_fails(self, store: Store) -> None:
        with pytest.raises(StoreError):
            store.update_search(search("missing"))

    def test_a_state_and_its_event_are_written_together(self, store: Store) -> None:
        """A watch that finds the search ended must find the event that ended it: both are
        one write, and a write that fails leaves neither."""
        record = search("s1")
        store.create_search(record)
        store.append_event("s1", "state_changed", {"state": "running"})
        record.state, record.finished_at = SearchState.CANCELLED, 99.0
        event = store.update_search_and_append_event(
            record, "state_changed", {"state": "cancelled"}
        )
        assert (event.sequence, event.payload) == (2, {"state": "cancelled"})
        assert store.get_search("t1", "s1") == record
        assert [e.payload for e in store.events_after("t1", "s1", 1)] == [{"state": "cancelled"}]
        with pytest.raises(StoreError):
            store.update_search_and_append_event(search("missing"), "state_changed", {})

    # -- events
    def test_events_get_increasing_sequences_per_search(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.create_search(search("s2"))
        first = store.append_event("s1", "state_changed", {"state": "running"})
        assert (first.search_id, first.sequence, first.kind) == ("s1", 1, "state_changed")
        assert store.append_event("s1", "candidate_finished", {"slot": 0}).sequence == 2
        assert store.append_event("s2", "state_changed", {}).sequence == 1
        assert store.append_event("s1", "candidate_epoch", {"epoch": 1}).sequence == 3
        with pytest.raises(StoreError):
            store.append_event("missing", "state_changed", {})

    def test_concurrent_appends_leave_no_gap_and_no_repeat(
        self, store: Store, open_store_again: Callable[[], Store]
    ) -> None:
        store.create_search(search("s1"))
        stores = [store, open_store_again()]  # two connections, not only one lock

        def append_many(worker: int) -> list[int]:
            target = stores[worker % 2]
            return [
                target.append_event("s1", "candidate_epoch", {"worker": worker, "i": i}).sequence
                for i in range(25)
            ]

        per_thread = run_together(8, append_many)
        for sequences in per_thread:
            assert sequences == sorted(sequences)
        everything = sorted(s for sequences in per_thread for s in sequences)
        assert everything == list(range(1, 8 * 25 + 1))
        stored = store.events_after("t1", "s1", 0, limit=1000)
        assert [event.sequence for event in stored] == everything

    def test_events_after_pages_and_is_scoped_by_tenant(self, store: Store) -> None:
        store.create_search(search("s1"))
        appended = [
            store.append_event("s1", "k", {"i": i, "nested": [i, {"x": None}]}) for i in range(7)
        ]
        assert store.events_after("t1", "s1", 0, limit=3) == appended[:3]
        assert store.events_after("t1", "s1", 3, limit=3) == appended[3:6]
        assert store.events_after("t1", "s1", 6, limit=3) == appended[6:]
        assert store.events_after("t1", "s1", 7) == []
        assert store.events_after("t2", "s1", 0) == []
        assert store.events_after("t1", "missing", 0) == []

    # -- zoo and knowledge trees
    def test_zoo_models_put_get_list_and_replace_by_name(self, store: Store) -> None:
        resnet = ZooModel(
            "ResNet",
            CLASSIFICATION,
            "class Net: ...",
            family="ResNet",
            code_md5="aa",
            metrics={"accuracy": 0.91},
        )
        captioner = ZooModel(
            "ResNetLSTM",
            CAPTIONING,
            "class Net: ...",
            family="ResNetLSTM",
            encoder="ResNet",
            decoder="LSTM",
            source="lemur:x.py",
        )
        alexnet = ZooModel("AlexNet", CLASSIFICATION, "class Net: pass")
        for model in (resnet, captioner, alexnet):
            store.put_zoo_model(model)
        assert store.get_zoo_model("ResNetLSTM") == captioner
        assert store.get_zoo_model("missing") is None
        assert [m.name for m in store.list_zoo_models()] == ["AlexNet", "ResNet", "ResNetLSTM"]
        assert store.list_zoo_models(CAPTIONING) == [captioner]
        replaced = ZooModel("ResNet", CLASSIFICATION, "class Net: 2", metrics={"accuracy": 0.93})
        store.put_zoo_model(replaced)
        assert store.get_zoo_model("ResNet") == replaced
        assert len(store.list_zoo_models(CLASSIFICATION)) == 2

    def test_knowledge_trees_put_get_and_replace(self, store: Store) -> None:
        tree = KnowledgeTreeRecord("default", {"root": {"children": [{"idea": "SE"}]}}, 5.0)
        store.put_knowledge_tree(tree)
        assert store.get_knowledge_tree("default") == tree
        assert store.get_knowledge_tree("other") is None
        newer = KnowledgeTreeRecord("default", {"root": {"children": []}, "v": 2}, 6.0)
        store.put_knowledge_tree(newer)
        assert store.get_knowledge_tree("default") == newer

    # -- restart
    def test_a_new_store_on_the_same_database_reads_everything(
        self, store: Store, open_store_again: Callable[[], Store]
    ) -> None:
        store.ensure_tenant(Tenant("t1", "One", created_at=1.0))
        record = search("s1", client_request_id="r1", created_at=2.0)
        store.create_search(record)
        events = [store.append_event("s1", "k", {"i": i}) for i in range(3)]
        planned = candidate("c1", "s1", 0, code="x = 1", created_at=3.0)
        store.put_candidate(planned)
        model = ZooModel("ResNet", CLASSIFICATION, "code")
        store.put_zoo_model(model)
        store.close()

        reopened = open_store_again()
        assert reopened.list_tenants() == [Tenant("t1", "One", created_at=1.0)]
        assert reopened.get_search("t1", "s1") == record
        assert reopened.create_search(search("s9", client_request_id="r1")) == (record, False)
        assert reopened.events_after("t1", "s1", 0) == events
        assert reopened.append_event("s1", "k", {}).sequence == 4  # the counter survived
        assert reopened.search_candidates("s1") == [planned]
        assert reopened.get_zoo_model("ResNet") == model
