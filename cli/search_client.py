"""A SearchService client: submit, watch with progress bars, leaderboard (protos + a token)."""

import asyncio
import json
from pathlib import Path

import grpc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import UsageError
from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from rpc.client import ClientTLS, open_channel

STATES = {
    value: name.removeprefix("SEARCH_STATE_").lower() for name, value in pb.SearchState.items()
}
METHODS = {
    "nn_caption": pb.SEARCH_METHOD_NN_CAPTION,
    "fairnad": pb.SEARCH_METHOD_FAIRNAD,
    "random": pb.SEARCH_METHOD_RANDOM,
    "regularized_evolution": pb.SEARCH_METHOD_REGULARIZED_EVOLUTION,
    "reference": pb.SEARCH_METHOD_REFERENCE,
}


class SearchClient:
    def __init__(
        self,
        target: str,
        token: str | None,
        console: Console | None = None,
        *,
        tls: ClientTLS | None,
    ) -> None:
        """``tls``: the CA of search_core's certificate; None only for a plaintext
        (local development) server. ``token`` None: no token (a server that allows an
        anonymous tenant)."""
        self._channel = open_channel(target, token=token, tls=tls, default_timeout_seconds=60)
        self.stub = pb_grpc.SearchServiceStub(self._channel)
        self.console = console or Console()

    async def __aenter__(self) -> "SearchClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self._channel.close()

    async def control(self, action: str, search_id: str) -> str:
        """Cancel, pause or resume the search; its state afterwards ("cancelled", ...)."""
        call, request = {
            "cancel": (self.stub.CancelSearch, pb.CancelSearchRequest),
            "pause": (self.stub.PauseSearch, pb.PauseSearchRequest),
            "resume": (self.stub.ResumeSearch, pb.ResumeSearchRequest),
        }[action]
        response = await call(request(search_id=search_id))
        return STATES[response.state]

    async def submit_file(self, path: Path) -> str:
        """Submit a config file as written, so that what it leaves out (the task's shapes)
        is filled in by the service from the dataset; it is validated here first."""
        from search_core.search_config import SearchConfigError, parse_config, read_config_file

        try:
            data = read_config_file(path)
            method = parse_config(data).method
        except SearchConfigError as exc:
            raise UsageError(str(exc)) from exc
        return await self.submit({**data, "method": method}, client_request_id="")

    async def submit(self, config: dict, client_request_id: str = "") -> str:
        spec = pb.SearchSpec(method=METHODS[config["method"]], config_json=json.dumps(config))
        response = await self.stub.SubmitSearch(
            pb.SubmitSearchRequest(spec=spec, client_request_id=client_request_id)
        )
        return response.search_id

    async def watch_with_progress(self, search_id: str) -> str:
        """Follow the search's events with a progress bar; return its final state."""
        search = (await self.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
        total = search.spec.max_candidates or None
        counts: dict[str, int] = {}  # counted from the events, which replay from the start
        state = STATES[search.state]
        best = None
        with Progress(
            TextColumn("[bold]{task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=self.console,
            transient=False,
        ) as progress:
            bar = progress.add_task("", total=total, name=search_id)
            sequence = 0
            while True:
                try:
                    async for event in self.stub.WatchSearch(
                        pb.WatchSearchRequest(search_id=search_id, after_sequence=sequence),
                        timeout=24 * 3600,
                    ):
                        sequence = event.sequence
                        kind = event.WhichOneof("event")
                        if kind == "state_changed":
                            state = STATES[event.state_changed]
                        elif kind == "candidate_finished":
                            summary = event.candidate_finished
                            outcome = _outcome_name(summary.outcome)
                            counts[outcome] = counts.get(outcome, 0) + 1
                            score = _validation(summary.scores)
                            if score is not None and (best is None or score > best):
                                best = score
                            progress.advance(bar)
                        progress.update(bar, description=_describe(state, counts, best))
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    await asyncio.sleep(1)  # search_core restarting: resume after `sequence`
        return state

    async def list_searches(
        self, states: list[str] = (), methods: list[str] = (), limit: int = 50
    ) -> list[pb.Search]:
        """The tenant's searches, newest first, up to `limit`, paging through ListSearches."""
        wanted_states = [value for value, name in STATES.items() if name in states and value != 0]
        request = pb.ListSearchesRequest(
            states=wanted_states,
            methods=[METHODS[method] for method in methods],
            page_size=min(limit, 200),
        )
        found: list[pb.Search] = []
        while len(found) < limit:
            page = await self.stub.ListSearches(request)
            found.extend(page.searches)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        return found[:limit]

    async def finished_candidates(self, search_id: str) -> list[pb.Candidate]:
        """Every finished candidate of the search, whole, in the order they finished."""
        ids: list[str] = []
        request = pb.ListCandidatesRequest(search_id=search_id, page_size=500)
        while True:
            page = await self.stub.ListCandidates(request)
            ids.extend(summary.candidate_id for summary in page.candidates)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        return [
            (await self.stub.GetCandidate(pb.GetCandidateRequest(candidate_id=c))).candidate
            for c in ids
        ]

    async def print_searches(self, searches: list[pb.Search]) -> None:
        table = Table(title="searches, newest first")
        for column in ("search", "method", "state", "candidates", "submitted (UTC)", "message"):
            table.add_column(column)
        for search in searches:
            method = next(
                (name for name, value in METHODS.items() if value == search.spec.method), "?"
            )
            table.add_row(
                search.search_id,
                method,
                STATES[search.state],
                f"{search.candidates_evaluated}/{search.spec.max_candidates}",
                search.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
                search.status_message or search.error.message,
            )
        self.console.print(table)

    async def print_leaderboard(self, search_id: str, limit: int = 10) -> None:
        response = await self.stub.GetLeaderboard(
            pb.GetLeaderboardRequest(search_id=search_id, limit=limit)
        )
        table = Table(title=f"leaderboard of {search_id}")
        columns = ("rank", "name", "validation", "test (held out)", "parameters", "generator")
        for column in (*columns, "warnings"):
            table.add_column(column)
        for entry in response.entries:
            summary = entry.candidate
            parameters = (
                summary.scores.parameter_count if summary.scores.HasField("parameter_count") else ""
            )
            table.add_row(
                str(entry.rank),
                summary.name,
                f"{entry.score:.4f}",
                f"{entry.test_score:.4f}" if entry.HasField("test_score") else "",
                str(parameters),
                summary.generator,
                ", ".join(sorted({warning.rule for warning in summary.warnings})),
            )
        self.console.print(table)


def _outcome_name(value: int) -> str:
    from nasforge.common.v1 import common_pb2

    return common_pb2.Outcome.Name(value).removeprefix("OUTCOME_").lower()


def _validation(scores) -> float | None:
    """The score the progress line shows as best: validation, as the search chose."""
    from rpc.convert import scores_from_pb
    from search_core.scores import validation_score

    return validation_score(scores_from_pb(scores))


def _describe(state: str, counts: dict[str, int], best: float | None) -> str:
    parts = [state]
    if best is not None:
        parts.append(f"best validation {best:.4f}")
    parts.extend(f"{name} {count}" for name, count in sorted(counts.items()))
    return " · ".join(parts)
