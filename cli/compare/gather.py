"""The gRPC side of a comparison: submit every (method, seed) search through the public API,
wait for them, and pull every candidate into plain RunResults."""

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from cli.compare.config import PlannedRun
from cli.compare.records import CandidateResult, RunResult

if TYPE_CHECKING:  # the stubs and rich load only when a comparison runs
    from rich.console import Console

    from cli.search_client import SearchClient

ClientFactory = Callable[[], "SearchClient"]
PAGE_SIZE = 200


async def gather_runs(
    runs: Sequence[PlannedRun], task: str, client_factory: ClientFactory, console: "Console"
) -> list[RunResult]:
    """Submit the searches in order and follow each to its end, oldest first.

    As many run side by side as the tenant's running-searches quota admits: a submit refused
    for a quota (RESOURCE_EXHAUSTED) waits for our oldest search to end, then is retried.
    Each submit carries the run's client_request_id, so resubmitting a comparison returns
    the searches already submitted instead of starting them again.
    """
    async with client_factory() as client:
        pending, in_flight, results = deque(runs), deque(), []
        while pending or in_flight:
            search_id = await _submit(client, pending[0], bool(in_flight)) if pending else None
            if search_id is not None:
                in_flight.append((pending.popleft(), search_id))
            else:
                run, search_id = in_flight.popleft()
                results.append(await _follow(client, run, search_id, task, console))
        return results


async def _submit(client: "SearchClient", run: PlannedRun, may_wait: bool) -> str | None:
    """The run's search id, or None when a quota refused it and one of ours can end first."""
    import grpc

    try:
        return await client.submit(run.search_config, run.client_request_id)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and may_wait:
            return None
        raise


async def _follow(
    client: "SearchClient", run: PlannedRun, search_id: str, task: str, console: "Console"
) -> RunResult:
    console.rule(f"{run.label}, seed {run.seed} ({search_id})")
    state = await client.watch_with_progress(search_id)
    candidates = await fetch_candidates(client, search_id, task)
    return RunResult(run.label, run.method, run.seed, search_id, state, candidates)


async def fetch_candidates(
    client: "SearchClient", search_id: str, task: str
) -> tuple[CandidateResult, ...]:
    """Every finished candidate of the search, in the order its method planned them (slot):
    concurrent candidates may finish in another order from run to run, their slots do not."""
    from nasforge.search_core.v1 import search_core_pb2 as pb

    results, token = [], ""
    while True:
        page = await client.stub.ListCandidates(
            pb.ListCandidatesRequest(search_id=search_id, page_size=PAGE_SIZE, page_token=token)
        )
        for summary in page.candidates:
            response = await client.stub.GetCandidate(
                pb.GetCandidateRequest(candidate_id=summary.candidate_id)
            )
            results.append((summary.slot, candidate_result(response.candidate, task)))
        token = page.next_page_token
        if not token:
            return tuple(result for _, result in sorted(results, key=lambda pair: pair[0]))


def candidate_result(candidate, task: str) -> CandidateResult:
    """A Candidate message as the comparison counts it: validation steers, test is reported."""
    from nasforge.common.v1 import common_pb2
    from search_core.scores import headline_metric

    summary, scores = candidate.summary, candidate.summary.scores
    test_field = headline_metric(task)
    return CandidateResult(
        name=summary.name,
        outcome=common_pb2.Outcome.Name(summary.outcome).removeprefix("OUTCOME_").lower(),
        validation=scores.validation if scores.HasField("validation") else None,
        test=getattr(scores, test_field) if scores.HasField(test_field) else None,
        epochs=len(candidate.epochs),
        training_seconds=sum(epoch.wall_time_ms for epoch in candidate.epochs) / 1000,
        llm_seconds=candidate.llm_usage.seconds,
    )
