"""`nasforge search mlflow`: a finished search through a real server, written to a real MLflow
tracking store (SQLite, artifacts on disk) and read back with MLflow's own client."""

import asyncio
import hashlib
from pathlib import Path

import pytest
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from cli.common import UsageError
from cli.exports.mlflow_runs import CANDIDATE_TAG, MlflowExport, export_search
from nasforge.search_core.v1 import search_core_pb2 as pb
from tests.unit.cli.test_optuna_export import finished_search  # noqa: F401 (the fixture)


def _store(tmp_path: Path) -> tuple[str, str]:
    """(tracking URI, artifact root) of a fresh store under tmp_path."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri()


def _runs(tracking_uri: str, experiment: str) -> dict[str, object]:
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    return {r.data.tags[CANDIDATE_TAG]: r for r in client.search_runs([found.experiment_id])}


async def test_each_candidate_is_a_run_with_its_epochs_scores_and_code(
    finished_search,  # noqa: F811
    tmp_path,
):
    client, search_id = finished_search
    uri, artifacts = _store(tmp_path)
    export = await export_search(client, search_id, uri, artifact_location=artifacts)
    assert (export.counts.written, export.counts.skipped) == (3, 0)

    mlflow = MlflowClient(uri)  # read back
    runs = _runs(uri, search_id)
    candidates = {c.summary.candidate_id: c for c in await client.candidates(search_id)}
    assert runs.keys() == candidates.keys()
    statuses = sorted(run.info.status for run in runs.values())
    assert statuses == ["FAILED", "FINISHED", "FINISHED"]
    for candidate_id, run in runs.items():
        candidate = candidates[candidate_id]
        tags = run.data.tags
        assert run.info.run_name == candidate.summary.name
        assert tags["search_id"] == search_id
        assert tags["generator"] == "template"
        assert tags["weights"] == "absent"  # the scripted trainer keeps none
        assert run.data.params["lr"] == "0.1"
        assert run.data.params["epochs"] == "2"
        assert run.data.params["seed"] == str(candidate.summary.slot)  # the search's seed is 0
        artifact = f"model/{candidate.summary.name}.py"
        assert [f.path for f in mlflow.list_artifacts(run.info.run_id, "model")] == [artifact]
        local = mlflow.download_artifacts(run.info.run_id, artifact, str(tmp_path))
        assert await asyncio.to_thread(Path(local).read_bytes) == candidate.code.encode()
        if run.info.status == "FAILED":
            assert tags["outcome"] == "shape_mismatch"
            assert tags["error"] == "RuntimeError: bad shape"
            assert run.data.metrics == {}  # never trained, nothing scored
            continue
        assert tags["outcome"] == "success"
        history = mlflow.get_metric_history(run.info.run_id, "validation_metric")
        assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.5)]
        history = mlflow.get_metric_history(run.info.run_id, "train_loss")
        assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 0.5)]
        assert [m.step for m in mlflow.get_metric_history(run.info.run_id, "wall_time_ms")] == [
            1,
            2,
        ]
        assert run.data.metrics["validation"] == pytest.approx(0.5)
        # the held-out figure: only under its test_ name, and labelled
        assert run.data.metrics["test_accuracy"] == pytest.approx(0.25)
        assert set(run.data.metrics) == {
            "train_loss",  # the per-epoch figures (their last value here)
            "validation_metric",
            "samples_per_second",
            "wall_time_ms",
            "validation",
            "parameter_count",
            "test_accuracy",
        }
        assert tags["held_out"] == "test_accuracy"
        assert "held-out" in tags["mlflow.note.content"]


async def test_exporting_again_adds_nothing_and_redoes_an_interrupted_run(
    finished_search,  # noqa: F811
    tmp_path,
):
    client, search_id = finished_search
    uri, artifacts = _store(tmp_path)
    await export_search(client, search_id, uri, artifact_location=artifacts)
    before = {c: r.info.run_id for c, r in _runs(uri, search_id).items()}

    again = await export_search(client, search_id, uri)
    assert (again.counts.written, again.counts.skipped, again.counts.replaced) == (0, 3, 0)
    assert {c: r.info.run_id for c, r in _runs(uri, search_id).items()} == before

    # An export killed half-way leaves its run RUNNING: the next one deletes and redoes it.
    mlflow = MlflowClient(uri)
    victim = next(iter(before))
    mlflow.delete_run(before[victim])
    experiment = mlflow.get_experiment_by_name(search_id).experiment_id
    half = mlflow.create_run(experiment, tags={CANDIDATE_TAG: victim})
    mlflow.log_metric(half.info.run_id, "train_loss", 9.0, step=1)
    redo = await export_search(client, search_id, uri)
    assert (redo.counts.written, redo.counts.skipped, redo.counts.replaced) == (1, 2, 1)
    runs = _runs(uri, search_id)
    assert len(runs) == 3
    assert runs[victim].info.run_id != half.info.run_id
    assert runs[victim].info.status in {"FINISHED", "FAILED"}
    history = mlflow.get_metric_history(runs[victim].info.run_id, "train_loss")
    assert 9.0 not in [m.value for m in history]


async def test_an_experiment_of_another_search_is_refused(
    finished_search,  # noqa: F811
    tmp_path,
):
    client, search_id = finished_search
    uri, artifacts = _store(tmp_path)
    MlflowClient(uri).create_experiment("team-runs", artifact_location=artifacts)
    with pytest.raises(UsageError, match=r"team-runs.*not exported by nasforge"):
        await export_search(client, search_id, uri, "team-runs")
    MlflowClient(uri).create_experiment("other", tags={"search_id": "s-other"})
    with pytest.raises(UsageError, match="holds search s-other"):
        await export_search(client, search_id, uri, "other")


def test_weights_are_an_artifact_byte_for_byte(tmp_path):
    uri, artifacts = _store(tmp_path)
    search = pb.Search(search_id="s-1", spec=pb.SearchSpec(train_epochs=3, seed=7))
    candidate = pb.Candidate(
        summary=pb.CandidateSummary(candidate_id="c-1", name="C10-Net-ab12", slot=2),
        code="class Net: ...\n",
        weights=pb.CandidateWeights(available=True, size_bytes=4096, epoch=3),
    )
    weights = tmp_path / "weights.pt"
    weights.write_bytes(hashlib.sha256(b"w").digest() * 128)  # 4 KiB of stand-in bytes
    export = MlflowExport(uri, search, artifact_location=artifacts)
    run_id = export.write(candidate, weights)

    mlflow = MlflowClient(uri)
    run = mlflow.get_run(run_id)
    assert run.data.tags["weights"] == "present"
    assert run.info.status == RunStatus.to_string(RunStatus.FAILED)  # no validation score
    assert run.data.params == {"epochs": "3", "seed": "9"}  # spec's epochs, seed 7 + slot 2
    paths = sorted(f.path for f in mlflow.list_artifacts(run_id, "model"))
    assert paths == ["model/C10-Net-ab12.py", "model/weights.pt"]
    local = mlflow.download_artifacts(run_id, "model/weights.pt", str(tmp_path / "back"))
    assert Path(local).read_bytes() == weights.read_bytes()
    with pytest.raises(ValueError, match=r"weights\.pt"):
        export.write(candidate, tmp_path / "model.bin")


def test_a_hostile_name_stays_inside_the_model_folder(tmp_path):
    uri, artifacts = _store(tmp_path)
    candidate = pb.Candidate(
        summary=pb.CandidateSummary(candidate_id="c-2", name="../../etc/passwd"),
        code="x = 1\n",
    )
    export = MlflowExport(uri, pb.Search(search_id="s-2"), artifact_location=artifacts)
    run_id = export.write(candidate)
    paths = [f.path for f in MlflowClient(uri).list_artifacts(run_id, "model")]
    assert paths == ["model/_.._etc_passwd.py"]
    assert MlflowClient(uri).get_run(run_id).info.run_name == "../../etc/passwd"


@pytest.mark.parametrize("scheme", ["bogus", "file"])
def test_a_tracking_store_mlflow_cannot_open_is_a_usage_error(scheme, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # MLflow 3 refuses file://
    uri = "bogus://nowhere" if scheme == "bogus" else (tmp_path / "store").as_uri()
    with pytest.raises(UsageError, match=r"MLflow tracking store"):
        MlflowExport(uri, pb.Search(search_id="s-3"))
