"""Contract: candidates written and replaced, listed, paged, ranked, counted and deduplicated."""

from collections.abc import Callable

import pytest

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, CandidateStatus, EpochMetrics, Generator
from search_core.store import Store, StoreError
from tests.unit.search_core.store.contract.fixtures import (
    CAPTIONING,
    StoreFixtures,
    candidate,
    finished,
    run_together,
    search,
)


def full_candidate() -> CandidateRecord:
    """A candidate with every field away from its default."""
    return CandidateRecord(
        candidate_id="c-full",
        search_id="s1",
        tenant_id="t1",
        slot=3,
        status=CandidateStatus.DONE,
        name="C10-ResNet-0f3a",
        code="import torch\n\nclass Net(torch.nn.Module):\n    pass  # ünïcode ✓\n",
        code_md5="0f3a",
        structure_hash="9b1c",
        parent="ResNet",
        generator=Generator.TEMPLATE,
        prompt_variant="fair_v2",
        model="qwen2.5-coder-1.5b",
        snippets=["ResNet", "VGG"],
        idea={"category": "attention", "attribute": "squeeze-excite"},
        mutation="fair_idea",
        genome={"depth": 3, "blocks": [{"kind": "conv", "width": 64}], "dropout": 0.25},
        outcome=Outcome.SHAPE_MISMATCH,
        stage="forward",
        error_type="RuntimeError",
        error_message="mat1 and mat2 shapes cannot be multiplied (64x10 and 12x3)",
        findings=[{"rule": "shape", "line": 12, "detail": None, "ok": False}],
        warnings=[
            {
                "rule": "criterion-for-criteria",
                "stage": "static",
                "line": 9,
                "column": 0,
                "message": "the Net API names it criteria; criterion was used",
                "severity": "warning",
            }
        ],
        parameter_count=11_689_512_345,  # beyond 32 bits
        flops=1_800_000_000_000,
        hyperparameters={"lr": 1e-3, "momentum": 0.9, "batch": 64.0},
        epochs=[EpochMetrics(1, 2.302585, 0.1, 1234.5, 9876), EpochMetrics(2, 1.1, 0.4)],
        score=0.123456789012345,
        scores={"accuracy": 0.123456789012345, "top5": 0.5},
        repair_attempts=2,
        history=[{"code_md5": "aa", "outcome": "syntax_error", "error": "line 3"}],
        created_at=1700000000.123456,
        finished_at=1700000100.654321,
    )


class CandidatesContract(StoreFixtures):
    def test_every_candidate_field_round_trips_on_insert_and_replace(self, store: Store) -> None:
        store.create_search(search("s1"))
        full = full_candidate()
        store.put_candidate(full)
        got = store.get_candidate("t1", "c-full")
        assert got == full
        assert type(got.outcome) is Outcome and type(got.generator) is Generator
        assert all(type(epoch) is EpochMetrics for epoch in got.epochs)

        # Replace by id, back to the defaults: None and empty values round-trip too.
        bare = candidate("c-full", "s1", 3, created_at=full.created_at)
        store.put_candidate(bare)
        assert store.get_candidate("t1", "c-full") == bare
        assert store.search_candidates("s1") == [bare]

    def test_reads_of_candidates_are_scoped_by_tenant(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.put_candidate(finished("c1", "s1", 0, 5.0, score=0.5))
        assert store.get_candidate("t1", "c1") is not None
        assert store.get_candidate("t2", "c1") is None
        assert store.list_candidates("t2", "s1").items == []
        assert store.leaderboard("t2") == []
        assert store.leaderboard("t2", search_id="s1") == []

    def test_a_second_candidate_on_a_taken_slot_raises_store_error(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.put_candidate(candidate("c1", "s1", 0))
        with pytest.raises(StoreError) as caught:
            store.put_candidate(candidate("c2", "s1", 0))
        assert caught.value.__cause__ is not None  # the driver's IntegrityError
        assert [c.candidate_id for c in store.search_candidates("s1")] == ["c1"]
        store.put_candidate(candidate("c2", "s1", 1))  # the store still works

    def test_a_candidate_of_an_unknown_search_is_refused(self, store: Store) -> None:
        with pytest.raises(StoreError):
            store.put_candidate(candidate("c1", "missing", 0))

    def test_search_candidates_are_by_slot(self, store: Store) -> None:
        store.create_search(search("s1"))
        for slot in (2, 0, 1):
            store.put_candidate(candidate(f"c{slot}", "s1", slot))
        assert [c.slot for c in store.search_candidates("s1")] == [0, 1, 2]
        assert store.search_candidates("missing") == []

    def test_list_candidates_only_done_in_finishing_order(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.put_candidate(finished("late", "s1", 0, 30.0))
        store.put_candidate(finished("early", "s1", 1, 10.0, Outcome.SYNTAX_ERROR))
        store.put_candidate(finished("middle", "s1", 2, 20.0, Outcome.TIMEOUT))
        store.put_candidate(candidate("running", "s1", 3, status=CandidateStatus.CHECKED))
        page = store.list_candidates("t1", "s1")
        assert [c.candidate_id for c in page.items] == ["early", "middle", "late"]
        assert page.next_token == ""
        only = store.list_candidates("t1", "s1", outcomes=[Outcome.SUCCESS, Outcome.TIMEOUT])
        assert [c.candidate_id for c in only.items] == ["middle", "late"]
        assert store.list_candidates("t1", "s1", outcomes=[Outcome.OOM]).items == []

    def test_list_candidates_pages_without_missing_or_repeating(self, store: Store) -> None:
        store.create_search(search("s1"))
        times = [10.0, 10.0, 11.0, 12.0, 12.0, 12.0, 13.0]  # ties are ordered by id
        for slot, at in enumerate(times):
            store.put_candidate(finished(f"c{6 - slot}", "s1", slot, at))
        expected = [c.candidate_id for c in store.list_candidates("t1", "s1").items]
        assert expected == ["c5", "c6", "c4", "c1", "c2", "c3", "c0"]

        seen, token, sizes = [], "", []
        while True:
            page = store.list_candidates("t1", "s1", page_size=3, page_token=token)
            seen += [c.candidate_id for c in page.items]
            sizes.append(len(page.items))
            token = page.next_token
            if not token:
                break
        assert sizes == [3, 3, 1]
        assert seen == expected

    def test_a_candidate_finishing_while_paging_comes_on_a_later_page(self, store: Store) -> None:
        store.create_search(search("s1"))
        for slot in range(3):
            store.put_candidate(finished(f"c{slot}", "s1", slot, 10.0 + slot))
        first = store.list_candidates("t1", "s1", page_size=2)
        store.put_candidate(finished("c3", "s1", 3, 50.0))
        second = store.list_candidates("t1", "s1", page_size=2, page_token=first.next_token)
        ids = [c.candidate_id for c in first.items + second.items]
        assert ids == ["c0", "c1", "c2", "c3"] and second.next_token == ""

    def test_a_foreign_or_broken_page_token_is_rejected(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.create_search(search("s2"))
        for slot in range(3):
            store.put_candidate(finished(f"c{slot}", "s1", slot, 10.0 + slot))
        token = store.list_candidates("t1", "s1", page_size=1).next_token
        assert token
        with pytest.raises(ValueError):
            store.list_candidates("t1", "s2", page_token=token)
        with pytest.raises(ValueError):
            store.list_candidates("t1", "s1", page_token="not a token!")

    def test_leaderboard_ranks_successes_with_a_score(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.create_search(search("s2", task=CAPTIONING))
        store.create_search(search("s3"))
        store.create_search(search("s4", "t2"))
        for record in (
            finished("a", "s1", 0, 10.0, score=0.9),
            finished("b", "s1", 1, 11.0, score=0.7),
            finished("failed", "s1", 2, 12.0, Outcome.RUNTIME_ERROR, score=0.99),
            finished("unscored", "s1", 3, 13.0),
            candidate("unfinished", "s1", 4, outcome=Outcome.SUCCESS, score=0.95),
            finished("f", "s2", 0, 12.0, score=0.8),
            finished("g", "s3", 0, 9.0, score=0.9),  # ties with a, finished first
            finished("h", "s4", 0, 1.0, score=1.0, tenant_id="t2"),
        ):
            store.put_candidate(record)

        def ids(board: list[CandidateRecord]) -> list[str]:
            return [c.candidate_id for c in board]

        assert ids(store.leaderboard("t1")) == ["g", "a", "f", "b"]
        assert ids(store.leaderboard("t1", limit=2)) == ["g", "a"]
        assert ids(store.leaderboard("t1", search_id="s1")) == ["a", "b"]
        assert ids(store.leaderboard("t1", task=CAPTIONING)) == ["f"]
        assert ids(store.leaderboard("t1", task="img-classification")) == ["g", "a", "b"]
        assert ids(store.leaderboard("t1", task="img-segmentation")) == []
        assert ids(store.leaderboard("t2")) == ["h"]
        assert ids(store.leaderboard("t1", search_id="s4")) == []

    def test_outcome_counts_count_finished_candidates(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.create_search(search("s2"))
        store.put_candidate(finished("a", "s1", 0, 1.0))
        store.put_candidate(finished("b", "s1", 1, 2.0))
        store.put_candidate(finished("c", "s1", 2, 3.0, Outcome.SYNTAX_ERROR))
        store.put_candidate(candidate("d", "s1", 3, status=CandidateStatus.GENERATED))
        store.put_candidate(finished("e", "s2", 0, 1.0, Outcome.OOM))
        assert store.outcome_counts("s1") == {"success": 2, "syntax_error": 1}
        assert store.outcome_counts("missing") == {}

    def test_find_duplicate_within_the_tenant(self, store: Store) -> None:
        store.create_search(search("s1"))
        store.create_search(search("s9", "t2"))
        for record in (
            candidate("c1", "s1", 1, code="a", code_md5="m1", structure_hash="h1", created_at=1.0),
            candidate("c2", "s1", 2, code="", code_md5="m2", structure_hash="h2", created_at=2.0),
            candidate("c3", "s1", 3, code="b", code_md5="m3", structure_hash="h1", created_at=3.0),
            candidate("c4", "s1", 4, code="c", code_md5="m4", structure_hash="h4", created_at=5.0),
            candidate("c5", "s1", 5, code="d", code_md5="m5", structure_hash="h4", created_at=4.0),
            candidate("new", "s1", 9, code="e", code_md5="m1", structure_hash="h1", created_at=9.0),
            candidate("x", "s9", 0, code="f", code_md5="m7", tenant_id="t2", created_at=0.5),
        ):
            store.put_candidate(record)

        def dup(md5: str, structure: str, exclude: str = "new", tenant: str = "t1") -> str | None:
            found = store.find_duplicate(tenant, md5, structure, exclude)
            return found.candidate_id if found else None

        assert dup("m1", "h1") == "c1"  # same code, the earliest
        assert dup("m3", "") == "c3"  # by code hash alone
        assert dup("zz", "h1") == "c1"  # by structure alone, the earliest
        assert dup("m4", "h4") == "c4"  # an exact code match beats an earlier structure match
        assert dup("m2", "h2") is None  # a candidate without code is no original
        assert dup("m1", "", exclude="c1") == "new"  # never the candidate itself
        assert dup("m3", "", exclude="c1") == "c3"  # stored code counts, planned before or after
        assert dup("m1", "h1", exclude="unsaved") == "c1"
        assert dup("m7", "") is None  # another tenant's candidate
        assert dup("m7", "", tenant="t2") == "x"
        assert dup("", "") is None

    def test_find_duplicate_and_signatures_within_one_search(self, store: Store) -> None:
        """A comparison runs each method and seed on its own: code of another search of the
        same tenant is no original when the search scope is asked for."""
        store.create_search(search("s1"))
        store.create_search(search("s2"))
        store.put_candidate(
            candidate("c1", "s1", 0, code="a", code_md5="m1", structure_hash="h1", signature=[1])
        )
        store.put_candidate(candidate("c2", "s2", 0, code="b", code_md5="m2", signature=[2]))
        assert store.find_duplicate("t1", "m1", "h1", "new").candidate_id == "c1"
        assert store.find_duplicate("t1", "m1", "h1", "new", search_id="s2") is None
        assert store.find_duplicate("t1", "m1", "", "new", search_id="s1").candidate_id == "c1"
        assert [n for n, _ in store.code_signatures("t1", "new")] == ["c1", "c2"]
        assert store.code_signatures("t1", "new", search_id="s2") == [("c2", [2])]

    def test_concurrent_candidate_writers_all_succeed(
        self, store: Store, open_store_again: Callable[[], Store]
    ) -> None:
        store.create_search(search("s1"))
        stores = [store, open_store_again()]

        def write(worker: int) -> None:
            target = stores[worker % 2]
            for i in range(20):
                slot = worker * 20 + i
                record = candidate(f"c{slot}", "s1", slot, code=f"x = {slot}")
                target.put_candidate(record)
                record.status = CandidateStatus.DONE  # and replace it
                record.outcome = Outcome.SUCCESS
                record.finished_at = float(slot)
                target.put_candidate(record)

        run_together(8, write)
        assert [c.slot for c in store.search_candidates("s1")] == list(range(160))
        assert store.outcome_counts("s1") == {"success": 160}
