"""`nasforge search mlflow|tensorboard` as a user runs them, against a search whose weights a
real trainer kept (tests/support/kept_weights.py: real search_core and trainer servers on
loopback, a token): the kept weights become `model/weights.pt` byte for byte, those the
trainer's retention removed and those never trained are `weights=absent`; read back with
MLflow and TensorBoard."""

import asyncio
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cli.main import main
from tests.support.kept_weights import (
    CODES,
    FAILED,
    TENANT_TOKENS,
    VALIDATION,
    kept_weights_search,
    module_weights,
)


@pytest.fixture
async def search(tmp_path):
    async with kept_weights_search(tmp_path) as finished:
        yield finished


def _connection(search, tmp_path: Path) -> list[str]:
    token = tmp_path / "acme.token"
    token.write_text(TENANT_TOKENS["acme"])
    return ["--target", search.target, "--token-file", str(token), "--plaintext"]


async def test_the_cli_exports_kept_weights_and_marks_the_others_absent(search, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["search", "mlflow", search.search_id, "--tracking-uri", uri]
    argv += [*_connection(search, tmp_path), "--artifact-location", (tmp_path / "a").as_uri()]
    assert await asyncio.to_thread(main, argv) == 0

    mlflow = MlflowClient(uri)
    experiment = mlflow.get_experiment_by_name(search.search_id)
    runs = mlflow.search_runs([experiment.experiment_id])
    by_code = {}
    for candidate in await search.clients["acme"].candidates(search.search_id):
        run = next(r for r in runs if r.data.tags["candidate_id"] == candidate.summary.candidate_id)
        by_code[candidate.code] = (candidate, run)
    assert set(by_code) == set(CODES)

    # retention kept 2 files: the two newest trainings (slots 2 and 3), slot 0's was removed
    for code in (CODES[2], CODES[3]):
        candidate, run = by_code[code]
        assert run.data.tags["weights"] == "present"
        local = mlflow.download_artifacts(run.info.run_id, "model/weights.pt", str(tmp_path))
        data = await asyncio.to_thread(Path(local).read_bytes)
        assert len(data) == candidate.weights.size_bytes
        assert data == module_weights(code)
        served = tmp_path / f"served-{candidate.summary.slot}.pt"
        await search.clients["acme"].download_weights(candidate.summary.candidate_id, served)
        assert data == await asyncio.to_thread(served.read_bytes)
    removed, run = by_code[CODES[0]]
    assert removed.weights.available  # recorded; the trainer says it is gone
    assert run.data.tags["weights"] == "absent"
    assert "not served" in run.data.tags["weights_note"]
    assert [f.path for f in mlflow.list_artifacts(run.info.run_id, "model")] == [
        f"model/{removed.summary.name}.py"
    ]
    _, run = by_code[FAILED]
    assert (run.data.tags["weights"], run.info.status) == ("absent", "FAILED")

    # again: nothing written twice
    assert await asyncio.to_thread(main, argv) == 0
    assert len(mlflow.search_runs([experiment.experiment_id])) == len(CODES)


async def test_the_cli_writes_a_tensorboard_logdir(search, tmp_path):
    logdir = tmp_path / "runs"
    argv = ["search", "tensorboard", search.search_id, "--logdir", str(logdir)]
    assert await asyncio.to_thread(main, [*argv, *_connection(search, tmp_path)]) == 0
    candidates = await search.clients["acme"].candidates(search.search_id)
    assert sorted(p.name for p in logdir.iterdir() if p.is_dir()) == sorted(
        c.summary.name for c in candidates
    )
    for candidate in candidates:
        events = EventAccumulator(str(logdir / candidate.summary.name))
        events.Reload()
        if candidate.code == FAILED:
            assert events.Tags()["scalars"] == []
            continue
        points = [(s.step, s.value) for s in events.Scalars("score/validation")]
        assert points == [(2, pytest.approx(VALIDATION[candidate.code]))]
