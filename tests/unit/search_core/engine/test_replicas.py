"""Two engines on one store, as two replicas: each search runs once, a dead replica's
searches are taken over, and cancel, pause and watch work through the other replica.

The replicas here share one event loop and one SQLite file; tests/integration/replicas
runs the same with real processes on a real PostgreSQL.
"""

import asyncio
import itertools
import json
from collections import Counter

from prometheus_client import CollectorRegistry

from netapi.outcomes import Outcome
from rpc.audit import open_audit_log
from search_core.config import SearchCoreSettings
from search_core.domain import Generator, SearchState
from search_core.engine.proposals import Proposal
from search_core.engine.runner import SearchEngine
from search_core.metrics import SearchMetrics
from search_core.store import open_store
from tests.unit.search_core.engine.scripted import ScriptedServices, method_factory, model_code
from tests.unit.search_core.engine.test_engine import _config

LEASE = 0.6  # seconds: takeovers within a second or so
_widths = itertools.count(1000, 100)


class Distinct:
    """Template proposals whose code no other search proposes (so none is a duplicate)."""

    def __init__(self) -> None:
        self._width = next(_widths)

    def propose(self, slot, rng, history):
        code = model_code(self._width + slot)
        return Proposal(prefix="T", generator=Generator.TEMPLATE, code=code, hyperparameters={})


def _replica(store, services, name, audit=None, **settings):
    values = {
        "max_in_flight_per_search": 1,
        "retry_backoff_max_seconds": 0.05,
        "replica_id": name,
        "lease_seconds": LEASE,
        "max_running_searches_per_tenant": 10,
        **settings,
    }
    metrics = SearchMetrics(CollectorRegistry(), tenants=[], models=[], prompt_variants=["v1"])
    return SearchEngine(
        store,
        services,
        SearchCoreSettings(**values),
        method_factory(lambda config, tenant: Distinct()),
        metrics,
        audit=audit,
    )


async def _events(engine, search_id):
    return [event async for event in engine.watch("acme", search_id)]


def _template(candidates):
    return _config(candidates, method="random", generator="template")


async def _die(engine):
    """What SIGKILL leaves: the tasks stop, nothing is written, no lease is handed back."""
    engine._closing = True
    tasks = [engine._keeper, *engine._running.values()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_searches_submitted_to_either_replica_each_run_once(tmp_path):
    store = open_store(str(tmp_path / "store.db"))
    services = ScriptedServices()
    a = _replica(store, services, "a", max_running_searches=2)
    b = _replica(store, services, "b", max_running_searches=2)
    await a.start()
    await b.start()
    try:
        searches = [await (a if i % 2 else b).submit("acme", _template(2)) for i in range(6)]
        for search in searches:
            events = await asyncio.wait_for(_events(a, search.search_id), 30)
            assert events[-1].payload["state"] == "succeeded"
        finished = Counter(
            e.payload["candidate_id"]
            for s in searches
            for e in store.events_after("acme", s.search_id, 0)
            if e.kind == "candidate_finished"
        )
        assert len(finished) == 12 and set(finished.values()) == {1}
        assert services.calls["train"] == 12  # no candidate trained twice
    finally:
        await a.close()
        await b.close()


async def test_a_dead_replicas_search_is_taken_over_and_nothing_is_done_twice(tmp_path):
    store = open_store(str(tmp_path / "store.db"))
    audit = open_audit_log(tmp_path / "audit.log", "search_core", CollectorRegistry())
    services = ScriptedServices()
    services.train_delay = 0.2
    a = _replica(store, services, "a")
    b = _replica(store, services, "b", audit=audit)
    await a.start()
    search = await a.submit("acme", _template(5))
    finished = 0
    async for event in a.watch("acme", search.search_id):
        finished += event.kind == "candidate_finished"
        if finished == 2:
            break
    await _die(a)
    await b.start()
    events = await asyncio.wait_for(_events(b, search.search_id), 30)
    assert events[-1].payload["state"] == "succeeded"
    candidates = store.search_candidates(search.search_id)
    assert sorted(c.slot for c in candidates) == [0, 1, 2, 3, 4]
    assert all(c.outcome is Outcome.SUCCESS for c in candidates)
    ids = [e.payload["candidate_id"] for e in events if e.kind == "candidate_finished"]
    assert len(ids) == len(set(ids)) == 5
    assert services.calls["train"] <= 6  # at most the one in flight on `a` again
    records = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    takeovers = [r for r in records if r["event"] == "search_taken_over"]
    assert [(t["search_id"], t["previous_replica"], t["replica"]) for t in takeovers] == [
        (search.search_id, "a", "b")
    ]
    await b.close()


async def test_cancel_through_the_other_replica_stops_the_owner(tmp_path):
    store = open_store(str(tmp_path / "store.db"))
    services = ScriptedServices()
    services.train_delay = 5
    a = _replica(store, services, "a")
    b = _replica(store, services, "b")
    await a.start()
    await b.start()
    try:
        search = await a.submit("acme", _template(4))
        await asyncio.wait_for(services.training_started.wait(), 10)
        assert await b.cancel("acme", search.search_id) == SearchState.CANCELLED
        await asyncio.sleep(0.1)
        assert search.search_id not in a.launched()  # the owner stopped it
        stored = store.get_search("acme", search.search_id)
        assert stored.state is SearchState.CANCELLED
        events = await _events(b, search.search_id)  # b watches what a wrote
        assert events[-1].payload["state"] == "cancelled"
    finally:
        await a.close()
        await b.close()


async def test_pause_and_resume_through_the_other_replica(tmp_path):
    store = open_store(str(tmp_path / "store.db"))
    services = ScriptedServices()
    services.train_delay = 0.3
    a = _replica(store, services, "a")
    b = _replica(store, services, "b")
    await a.start()
    await b.start()
    try:
        search = await a.submit("acme", _template(3))
        await asyncio.wait_for(services.training_started.wait(), 10)
        assert await b.pause("acme", search.search_id) == SearchState.PAUSED
        assert search.search_id not in a.launched()
        await asyncio.sleep(3 * LEASE)  # nobody takes a paused search
        assert not a.launched() and not b.launched()
        assert await b.resume("acme", search.search_id) == SearchState.QUEUED
        events = await asyncio.wait_for(_events(a, search.search_id), 30)
        assert events[-1].payload["state"] == "succeeded"
        assert store.outcome_counts(search.search_id) == {"success": 3}
        messages = [e.payload.get("message", "") for e in events if e.kind == "state_changed"]
        assert "paused by the user" in messages
    finally:
        await a.close()
        await b.close()


async def test_a_replica_takes_no_more_searches_than_it_has_room_for(tmp_path):
    store = open_store(str(tmp_path / "store.db"))
    services = ScriptedServices()
    services.train_delay = 2
    a = _replica(store, services, "a", max_running_searches=1)
    b = _replica(store, services, "b", max_running_searches=1)
    await a.start()
    await b.start()
    try:
        searches = [await a.submit("acme", _template(1)) for _ in range(3)]
        await asyncio.wait_for(services.training_started.wait(), 10)
        await asyncio.sleep(LEASE)  # a round of b's keeper
        assert len(a.launched()) == 1 and len(b.launched()) == 1  # the third waits, queued
        for search in searches:
            events = await asyncio.wait_for(_events(a, search.search_id), 30)
            assert events[-1].payload["state"] == "succeeded"
    finally:
        await a.close()
        await b.close()
