"""Fixtures and record builders shared by the store contract tests."""

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, CandidateStatus, Method, SearchRecord
from search_core.store import Store, open_store

CLASSIFICATION = "img-classification"
CAPTIONING = "img-captioning"


class StoreFixtures:
    """`store`: a migrated store on an empty database; `open_store_again`: more on the same."""

    @pytest.fixture
    def store_url(self) -> str:
        raise NotImplementedError("a backend's contract class provides store_url")

    @pytest.fixture
    def open_store_again(self, store_url: str) -> Iterator[Callable[[], Store]]:
        opened: list[Store] = []

        def opener() -> Store:
            opened.append(open_store(store_url))
            return opened[-1]

        yield opener
        for store in opened:
            store.close()

    @pytest.fixture
    def store(self, open_store_again: Callable[[], Store]) -> Store:
        return open_store_again()


def search(
    search_id: str, tenant_id: str = "t1", task: str = CLASSIFICATION, **fields: Any
) -> SearchRecord:
    config = {"task": {"task": task, "dataset": "cifar-10"}, "budget": 8}
    return SearchRecord(search_id, tenant_id, Method.RANDOM, config, **fields)


def candidate(candidate_id: str, search_id: str, slot: int, **fields: Any) -> CandidateRecord:
    fields.setdefault("tenant_id", "t1")
    return CandidateRecord(candidate_id=candidate_id, search_id=search_id, slot=slot, **fields)


def finished(
    candidate_id: str,
    search_id: str,
    slot: int,
    finished_at: float,
    outcome: Outcome = Outcome.SUCCESS,
    **fields: Any,
) -> CandidateRecord:
    return candidate(
        candidate_id,
        search_id,
        slot,
        status=CandidateStatus.DONE,
        outcome=outcome,
        finished_at=finished_at,
        **fields,
    )


def run_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) on `count` threads released at once; re-raise the first error."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # collected and re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    return results
