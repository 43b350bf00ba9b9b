"""run_compare against a fake search_core: what it submits, what it reads from candidates,
and that a resumed comparison does not submit a run twice. The real stack is exercised by
the integration tests."""

import argparse
import io
import json

import grpc
import pytest
from grpc.aio import Metadata
from rich.console import Console

from cli.common import UsageError
from cli.compare import run_compare
from cli.compare.command import answers
from cli.compare.gather import PAGE_SIZE, candidate_result
from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb

CONFIG = """
name = "fake"
seeds = [1, 2]

[budget]
max_candidates = 3
epochs = 2
train_samples = 100
validation_samples = 10
test_samples = 10

[[methods]]
label = "rand"
method = "random"

[[methods]]
label = "fair"
method = "fairnad"
generator = "template"
"""


def candidate(index, seed, *, outcome=common_pb2.OUTCOME_SUCCESS):
    """Validation rises with the index; test falls with it (the selection must not care)."""
    scores = common_pb2.Scores()
    if outcome == common_pb2.OUTCOME_SUCCESS:
        scores.validation = 0.5 + index / 10 + seed / 100
        scores.accuracy = 0.9 - index / 10
    return pb.Candidate(
        summary=pb.CandidateSummary(
            candidate_id=f"c-{seed}-{index}",
            name=f"m{index}",
            outcome=outcome,
            scores=scores,
            slot=index,
        ),
        epochs=[common_pb2.EpochResult(epoch=e, wall_time_ms=1500) for e in (1, 2)],
        llm_usage=pb.LlmUsage(seconds=0.25),
    )


class FakeSearchCore:
    """Searches by client_request_id, as search_core keeps them; ListCandidates pages of 2;
    at most `running_limit` searches not yet watched to their end (the tenant's quota)."""

    def __init__(self, running_limit: int = 100):
        self.searches: dict[str, dict] = {}  # client_request_id -> config
        self.ids: dict[str, str] = {}  # client_request_id -> search id
        self.candidates: dict[str, list[pb.Candidate]] = {}  # search id -> candidates
        self.running: set[str] = set()
        self.running_limit = running_limit
        self.most_running = 0
        self.submits = 0

    def submit(self, request_id: str, config: dict) -> str:
        self.submits += 1
        if request_id not in self.ids:
            if len(self.running) >= self.running_limit:
                raise grpc.aio.AioRpcError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, Metadata(), Metadata(), "running_searches"
                )
            search_id = f"s-{len(self.ids) + 1}"
            self.searches[request_id], self.ids[request_id] = config, search_id
            seed = config["seed"]
            self.candidates[search_id] = [  # as they finished, not as they were planned
                candidate(2, seed),
                candidate(0, seed),
                candidate(1, seed, outcome=common_pb2.OUTCOME_SHAPE_MISMATCH),
            ]
            self.running.add(search_id)
            self.most_running = max(self.most_running, len(self.running))
        return self.ids[request_id]


class FakeStub:
    def __init__(self, server: FakeSearchCore):
        self.server = server

    async def ListCandidates(self, request):
        assert request.page_size == PAGE_SIZE
        everything = self.server.candidates[request.search_id]
        start = int(request.page_token or 0)
        page = everything[start : start + 2]
        more = start + 2 < len(everything)
        return pb.ListCandidatesResponse(
            candidates=[c.summary for c in page], next_page_token=str(start + 2) if more else ""
        )

    async def GetCandidate(self, request):
        for candidates in self.server.candidates.values():
            for c in candidates:
                if c.summary.candidate_id == request.candidate_id:
                    return pb.GetCandidateResponse(candidate=c)
        raise KeyError(request.candidate_id)


class FakeClient:
    def __init__(self, server: FakeSearchCore):
        self.server, self.stub = server, FakeStub(server)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def submit(self, config: dict, client_request_id: str = "") -> str:
        return self.server.submit(client_request_id, config)

    async def watch_with_progress(self, search_id: str) -> str:
        self.server.running.discard(search_id)
        return "succeeded"


def compare_with(server, tmp_path, out_name):
    path = tmp_path / "compare.toml"
    path.write_text(CONFIG)
    return run_compare(
        path,
        tmp_path / out_name,
        lambda: FakeClient(server),
        console=Console(file=io.StringIO()),
    )


def test_run_compare_submits_each_run_once_and_writes_the_report(tmp_path):
    server = FakeSearchCore()
    output = compare_with(server, tmp_path, "first")
    assert output.all_succeeded
    assert [(run.label, run.seed) for run in output.runs] == [
        ("rand", 1), ("rand", 2), ("fair", 1), ("fair", 2),
    ]  # fmt: skip
    configs = list(server.searches.values())
    assert {c["duplicate_scope"] for c in configs} == {"search"}  # runs stay independent
    assert [(c["method"], c["seed"], c["max_candidates"]) for c in configs] == [
        ("random", 1, 3), ("random", 2, 3), ("fairnad", 1, 3), ("fairnad", 2, 3),
    ]  # fmt: skip
    assert output.report.is_file()
    results = json.loads((tmp_path / "first" / "results.json").read_text())
    seed = results["methods"][0]["seeds"][0]
    assert seed["best_name"] == "m2"  # the validation winner, whose test is the lowest
    assert [c.name for c in output.runs[0].candidates] == ["m0", "m1", "m2"]  # budget order
    assert seed["test_of_best"] == 0.7
    assert seed["spent"] == {
        "candidates": 3, "trained": 3, "successes": 2, "epochs": 6, "samples": 600,
    }  # fmt: skip

    again = compare_with(server, tmp_path, "second")
    assert len(server.searches) == 4 and server.submits == 8  # resubmitted, not re-run
    assert [run.search_id for run in again.runs] == [run.search_id for run in output.runs]
    first, second = (tmp_path / name / "results.json" for name in ("first", "second"))
    assert first.read_bytes() == second.read_bytes()


def test_a_candidate_reads_validation_and_the_tasks_test_figure():
    result = candidate_result(candidate(1, 0), "img-classification")
    assert (result.name, result.outcome) == ("m1", "success")
    assert (result.validation, result.test) == (0.6, 0.8)
    assert (result.epochs, result.training_seconds, result.llm_seconds) == (2, 3.0, 0.25)
    captioner = pb.Candidate(
        summary=pb.CandidateSummary(
            name="cap",
            outcome=common_pb2.OUTCOME_SUCCESS,
            scores=common_pb2.Scores(validation=0.2, bleu4_corpus=0.1, accuracy=0.9),
        )
    )
    assert candidate_result(captioner, "img-captioning").test == 0.1
    failed = candidate_result(candidate(0, 0, outcome=common_pb2.OUTCOME_OOM), "img-classification")
    assert (failed.outcome, failed.validation, failed.test) == ("oom", None, None)


def test_a_tenant_quota_on_running_searches_is_waited_out(tmp_path):
    server = FakeSearchCore(running_limit=2)
    output = compare_with(server, tmp_path, "out")
    assert len(output.runs) == 4 and server.most_running == 2
    assert [run.search_id for run in output.runs] == ["s-1", "s-2", "s-3", "s-4"]


def test_a_quota_refusal_with_nothing_of_ours_running_is_an_error(tmp_path):
    with pytest.raises(grpc.aio.AioRpcError):
        compare_with(FakeSearchCore(running_limit=0), tmp_path, "out")


def test_a_run_of_some_seeds_submits_only_those(tmp_path):
    server = FakeSearchCore()
    path = tmp_path / "compare.toml"
    path.write_text(CONFIG)
    output = run_compare(
        path,
        tmp_path / "one",
        lambda: FakeClient(server),
        seeds=(2,),
        console=Console(file=io.StringIO()),
    )
    assert [(run.label, run.seed) for run in output.runs] == [("rand", 2), ("fair", 2)]
    with pytest.raises(UsageError, match=r"seeds \[7\]"):
        run_compare(path, tmp_path / "two", lambda: FakeClient(server), seeds=(7,))


def test_the_llm_answers_are_recorded_or_replayed_by_the_local_stacks_gateway(tmp_path):
    def args(**given):
        return argparse.Namespace(
            **{"local": True, "llm_answers": None, "llm_mode": "record", **given}
        )

    assert answers(args()) == {}
    assert answers(args(llm_answers=tmp_path, llm_mode="replay")) == {
        "NASFORGE_GATEWAY_RECORD_DIR": str(tmp_path.resolve()),
        "NASFORGE_GATEWAY_RECORD_MODE": "replay",
    }
    with pytest.raises(UsageError, match="--local"):
        answers(args(local=False, llm_answers=tmp_path))
