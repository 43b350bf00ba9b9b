"""The CLI's search client: nasforge.client's AsyncSearchClient plus what a terminal shows
(progress bars, tables). Every RPC goes through AsyncSearchClient; this module only draws."""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nasforge.client import AsyncSearchClient, method_name, outcome_name, pb, state_name
from rpc.client import ClientTLS


class SearchClient(AsyncSearchClient):
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
        super().__init__(target, token, tls=tls, timeout_seconds=60)
        self.console = console or Console()

    async def control(self, action: str, search_id: str) -> str:
        """ "cancel", "pause" or "resume" the search; its state afterwards ("cancelled", ...)."""
        return await {"cancel": self.cancel, "pause": self.pause, "resume": self.resume}[action](
            search_id
        )

    async def watch_with_progress(self, search_id: str) -> str:
        """Follow the search's events with a progress bar (through restarts of search_core,
        however long); return its final state."""
        search = await self.get(search_id)
        counts: dict[str, int] = {}  # counted from the events, which replay from the start
        state = state_name(search.state)
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
            bar = progress.add_task("", total=search.spec.max_candidates or None, name=search_id)
            async for event in self.watch(search_id, reconnect_for_seconds=None):
                kind = event.WhichOneof("event")
                if kind == "state_changed":
                    state = state_name(event.state_changed)
                elif kind == "candidate_finished":
                    summary = event.candidate_finished
                    outcome = outcome_name(summary.outcome)
                    counts[outcome] = counts.get(outcome, 0) + 1
                    if summary.scores.HasField("validation") and (
                        best is None or summary.scores.validation > best
                    ):
                        best = summary.scores.validation
                    progress.advance(bar)
                progress.update(bar, description=_describe(state, counts, best))
        return state

    async def print_searches(self, searches: list[pb.Search]) -> None:
        table = Table(title="searches, newest first")
        for column in ("search", "method", "state", "candidates", "submitted (UTC)", "message"):
            table.add_column(column)
        for search in searches:
            table.add_row(
                search.search_id,
                method_name(search.spec.method),
                state_name(search.state),
                f"{search.candidates_evaluated}/{search.spec.max_candidates}",
                search.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
                search.status_message or search.error.message,
            )
        self.console.print(table)

    async def print_leaderboard(self, search_id: str, limit: int = 10) -> None:
        table = Table(title=f"leaderboard of {search_id}")
        columns = ("rank", "name", "validation", "test (held out)", "parameters", "generator")
        for column in (*columns, "warnings"):
            table.add_column(column)
        for entry in await self.leaderboard(search_id, limit):
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


def _describe(state: str, counts: dict[str, int], best: float | None) -> str:
    parts = [state]
    if best is not None:
        parts.append(f"best validation {best:.4f}")
    parts.extend(f"{name} {count}" for name, count in sorted(counts.items()))
    return " · ".join(parts)
