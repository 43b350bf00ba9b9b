"""A search as an MLflow experiment: one run per finished candidate, so the MLflow UI (or any
MLflow code) can compare, filter and fetch nasforge's models beside a team's other work.

Each run is named after its candidate and carries: tags (search, candidate, outcome,
generator, mutation, model, parent, weights present or absent), params (hyperparameters,
epochs, seed), every per-epoch figure as a metric history with step = epoch, the choosable
and cost scores as metrics, and the held-out test scores as `test_*` metrics that a tag and
the run's note label as held out. The module source is an artifact (`model/<name>.py`), and
the weights (`model/weights.pt`) when the deployment kept them. A candidate that did not end
with a validation score is a FAILED run with its error as a tag.

Exporting again adds only what is missing: a candidate whose run was completed (FINISHED or
FAILED, set last) is skipped; a run an interrupted export left RUNNING is deleted and written
again. Nothing is read from nasforge's database: the candidates come from the public API.
"""

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from cli.common import UsageError
from cli.exports.candidate_figures import (
    HELD_OUT_NOTE,
    epoch_figures,
    file_name,
    labels,
    split_scores,
    succeeded,
    training_parameters,
)
from nasforge.client import AsyncSearchClient, NotFound
from nasforge.search_core.v1 import search_core_pb2 as pb

CANDIDATE_TAG = "candidate_id"  # how a later export finds the run of a candidate
_COMPLETE = {RunStatus.to_string(RunStatus.FINISHED), RunStatus.to_string(RunStatus.FAILED)}
_TAG_VALUE_CHARS = 5000  # MLflow refuses tag values over 8000 characters
_METRICS_PER_BATCH = 1000  # MLflow's limits per log_batch call
_OTHERS_PER_BATCH = 100  # params, and tags


@dataclass
class ExportCounts:
    written: int = 0
    skipped: int = 0  # already exported completely
    replaced: int = 0  # runs an interrupted export left unfinished, deleted to be rewritten


class MlflowExport:
    """The experiment of one search in one tracking store, and which candidates it holds."""

    def __init__(
        self,
        tracking_uri: str,
        search: pb.Search,
        experiment_name: str = "",
        artifact_location: str | None = None,
    ) -> None:
        """Open (or create) the experiment `experiment_name` (default: the search id). An
        experiment of that name holding another search, or deleted in MLflow, is refused."""
        self.search = search
        self.counts = ExportCounts()
        self.experiment_name = experiment_name or search.search_id
        try:
            self.client = MlflowClient(tracking_uri=tracking_uri)
            self.experiment_id = self._experiment(artifact_location)
        except MlflowException as exc:  # an unknown scheme, a refused or unreachable store
            raise UsageError(f"MLflow tracking store {tracking_uri}: {exc.message}") from exc
        self._runs = self._existing_runs()

    def _experiment(self, artifact_location: str | None) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            return self.client.create_experiment(
                self.experiment_name,
                artifact_location=artifact_location,
                tags={
                    "search_id": self.search.search_id,
                    "mlflow.note.content": f"nasforge search {self.search.search_id}. "
                    f"Runs are candidates; {HELD_OUT_NOTE}.",
                },
            )
        if experiment.lifecycle_stage != "active":
            raise UsageError(
                f"MLflow experiment {self.experiment_name!r} is deleted: restore it "
                "(mlflow experiments restore) or name another with --experiment"
            )
        holds = experiment.tags.get("search_id")
        if holds != self.search.search_id:
            raise UsageError(
                f"MLflow experiment {self.experiment_name!r} holds "
                f"{'search ' + holds if holds else 'runs not exported by nasforge'}, "
                f"not search {self.search.search_id}: name another with --experiment"
            )
        return experiment.experiment_id

    def _existing_runs(self) -> dict[str, str]:
        """candidate id -> status of its complete run; runs an interrupted export left
        unfinished are deleted here (and counted as replaced) so they are written again."""
        runs: dict[str, str] = {}
        unfinished: list[str] = []
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, page_token=token
            )
            for run in page:
                candidate_id = run.data.tags.get(CANDIDATE_TAG)
                if candidate_id is None:
                    continue
                if run.info.status in _COMPLETE:
                    runs[candidate_id] = run.info.status
                else:
                    unfinished.append(run.info.run_id)
            token = page.token
            if not token:
                break
        for run_id in unfinished:
            self.client.delete_run(run_id)
        self.counts.replaced = len(unfinished)
        return runs

    def pending(self, candidates: list[pb.Candidate]) -> list[pb.Candidate]:
        """The candidates that have no complete run yet (the others count as skipped)."""
        todo = [c for c in candidates if c.summary.candidate_id not in self._runs]
        self.counts.skipped += len(candidates) - len(todo)
        return todo

    def write(self, candidate: pb.Candidate, weights: Path | None = None) -> str:
        """Write the candidate's run and return its id. `weights`: its state_dict file, named
        weights.pt, or None when the deployment kept none."""
        if weights is not None and weights.name != "weights.pt":
            raise ValueError(f"the weights file must be named weights.pt, not {weights.name}")
        summary = candidate.summary
        end_ms = _milliseconds(summary) or None
        run = self.client.create_run(
            self.experiment_id,
            start_time=end_ms,  # when it was started is not recorded; it sorts by finish
            run_name=summary.name or summary.candidate_id,
            tags={CANDIDATE_TAG: summary.candidate_id},
        )
        run_id = run.info.run_id
        metrics, held_out = _metrics(candidate, end_ms or 0)
        tags = _tags(candidate, self.search, weights is not None, held_out)
        params = [
            Param(name, repr(value))
            for name, value in training_parameters(candidate, self.search).items()
        ]
        for start in range(0, len(metrics), _METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=metrics[start : start + _METRICS_PER_BATCH])
        for start in range(0, max(len(params), len(tags)), _OTHERS_PER_BATCH):
            end = start + _OTHERS_PER_BATCH
            self.client.log_batch(run_id, params=params[start:end], tags=tags[start:end])
        with tempfile.TemporaryDirectory(prefix="nasforge-mlflow-") as staging:
            if candidate.code:
                module = Path(staging, f"{file_name(candidate)}.py")
                module.write_text(candidate.code, encoding="utf-8")
                self.client.log_artifact(run_id, str(module), "model")
        if weights is not None:
            self.client.log_artifact(run_id, str(weights), "model")
        status = RunStatus.FINISHED if succeeded(candidate) else RunStatus.FAILED
        self.client.set_terminated(run_id, RunStatus.to_string(status), end_time=end_ms)
        self._runs[summary.candidate_id] = RunStatus.to_string(status)
        self.counts.written += 1
        return run_id


def _milliseconds(summary: pb.CandidateSummary) -> int:
    if not summary.HasField("finished_at"):
        return 0
    return summary.finished_at.ToMilliseconds()


def _metrics(candidate: pb.Candidate, timestamp_ms: int) -> tuple[list[Metric], list[str]]:
    """(every metric of the run, the names of the held-out ones)."""
    metrics = [
        Metric(name, value, timestamp_ms, epoch.epoch)
        for epoch in candidate.epochs
        for name, value in epoch_figures(epoch).items()
    ]
    choosable, held_out = split_scores(candidate.summary.scores)
    metrics.extend(Metric(name, value, timestamp_ms, 0) for name, value in choosable.items())
    held_out_names = [f"test_{name}" for name in held_out]
    metrics.extend(
        Metric(name, value, timestamp_ms, 0)
        for name, value in zip(held_out_names, held_out.values(), strict=True)
    )
    return metrics, held_out_names


def _tags(
    candidate: pb.Candidate, search: pb.Search, has_weights: bool, held_out: list[str]
) -> list[RunTag]:
    summary = candidate.summary
    tags = {
        **labels(candidate, search),
        "weights": "present" if has_weights else "absent",
        "held_out": ",".join(held_out),
        "mlflow.note.content": f"nasforge candidate {summary.candidate_id}; {HELD_OUT_NOTE}.",
    }
    if candidate.weights.available and not has_weights:
        tags["weights_note"] = "announced but not served (removed since, or not downloaded)"
    elif not candidate.weights.available and candidate.weights.unavailable_reason:
        tags["weights_note"] = candidate.weights.unavailable_reason
    if candidate.error.message or candidate.error.type:
        tags["error"] = f"{candidate.error.type}: {candidate.error.message}".strip(": ")
    return [RunTag(key, value[:_TAG_VALUE_CHARS]) for key, value in tags.items() if value]


async def export_search(
    client: AsyncSearchClient,
    search_id: str,
    tracking_uri: str,
    experiment_name: str = "",
    artifact_location: str | None = None,
) -> MlflowExport:
    """`nasforge search mlflow`: the search's finished candidates, read through the public
    API, written as runs. The weights of each run still to write are downloaded (through
    DownloadWeights, checked against the announced SHA-256) one at a time into a temporary
    folder, when the candidate says the deployment kept them."""
    search = await client.get(search_id)
    candidates = await client.candidates(search_id)
    export = await asyncio.to_thread(
        MlflowExport, tracking_uri, search, experiment_name, artifact_location
    )
    with tempfile.TemporaryDirectory(prefix="nasforge-weights-") as folder:
        for candidate in export.pending(candidates):
            weights = None
            if candidate.weights.available:
                target = Path(folder, candidate.summary.candidate_id, "weights.pt")
                try:
                    weights = await client.download_weights(candidate.summary.candidate_id, target)
                except NotFound:  # removed by retention since the candidate was read
                    weights = None
            await asyncio.to_thread(export.write, candidate, weights)
            if weights is not None:
                await asyncio.to_thread(weights.unlink)
    return export
