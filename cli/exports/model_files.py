"""A search's best models as files: code, weights, hyperparameters, per-epoch figures, the
candidate's record and a manifest with every file's sha256, in nasforge's layout or LEMUR's.

Everything is read through the public API (GetSearch, ListCandidates, GetCandidate,
DownloadWeights), so it works against any deployment with a token. "Best" is by the
validation score, as searches steer; test figures are written, never ranked by. Weights are
checked against the sha256 the candidate's record names before they are kept; a candidate
whose weights the trainer no longer has is exported without them, and the manifest says why.

nasforge layout, one folder per model:
    DIR/<name>/<name>.py  weights.pt  hyperparameters.json  epochs.json  record.json  manifest.json
LEMUR layout (ABrain-One/nn-dataset: models in ab/nn/nn, per-epoch trials in ab/nn/stat):
    DIR/ab/nn/nn/<name>.py
    DIR/ab/nn/stat/<task>_<dataset>_<metric>_<name>/<epoch>.json   (a list of one trial)
    DIR/nasforge/<name>/weights.pt  record.json                   (beside LEMUR's tree)
    DIR/manifest.json
"""

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.json_format import MessageToDict

from nasforge.client import AsyncSearchClient, DownloadMismatch, NotFound
from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb
from rpc.convert import scores_from_pb
from search_core.scores import headline_metric, validation_score

FORMATS = ("nasforge", "lemur")
# A model's name becomes a file name: `<prefix>-<md5>` as search_core writes it, nothing else.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_LEMUR_METRIC = {"accuracy": "acc", "bleu4_corpus": "bleu"}  # LEMUR's stat folder names

Downloader = Callable[[str], Awaitable[tuple[bytes | None, str]]]


class ExportError(Exception):
    """The export cannot be written as asked: the folder, a name, or weights that do not
    match their record."""


@dataclass
class ExportedModel:
    name: str
    candidate_id: str
    validation: float
    weights: bool  # whether weights.pt was written
    weights_note: str = ""  # why not, when not
    files: list[str] = field(default_factory=list)  # paths relative to the export folder


def best_candidates(candidates: list[pb.Candidate], best: int | None) -> list[pb.Candidate]:
    """The candidates with a validation score, best first (ties by name), at most ``best``."""
    scored = [
        (score, c.summary.name, c)
        for c in candidates
        if (score := validation_score(scores_from_pb(c.summary.scores))) is not None
    ]
    scored.sort(key=lambda item: (-item[0], item[1]))
    chosen = [c for _, _, c in scored]
    return chosen if best is None else chosen[:best]


def weights_downloader(client: AsyncSearchClient, folder: Path) -> Downloader:
    """Fetch a candidate's weights with the client's DownloadWeights (checked against the
    size and sha256 the server announces) through ``folder``: (bytes, "") or (None, the
    reason the server gives when it kept none)."""

    async def download(candidate_id: str) -> tuple[bytes | None, str]:
        try:
            path = await client.download_weights(candidate_id, folder / f"{candidate_id}.pt")
        except NotFound as exc:
            return None, exc.details()
        except DownloadMismatch as exc:
            raise ExportError(str(exc)) from exc
        data = path.read_bytes()
        path.unlink()
        return data, ""

    return download


@dataclass(frozen=True)
class ModelToExport:
    """A chosen candidate and its verified weights (None, with the reason, when absent)."""

    candidate: pb.Candidate
    weights: bytes | None
    weights_note: str = ""


async def gather_models(
    candidates: list[pb.Candidate], download: Downloader, *, best: int | None = None
) -> list[ModelToExport]:
    """The best candidates (by validation) with their weights, each checked against its
    record's sha256."""
    chosen = []
    for candidate in best_candidates(candidates, best):
        name = candidate.summary.name
        if not SAFE_NAME.match(name) or ".." in name:
            raise ExportError(f"candidate {candidate.summary.candidate_id} has the name {name!r}")
        data, note = await _verified_weights(candidate, download)
        chosen.append(ModelToExport(candidate, data, note))
    return chosen


def write_models(
    search: pb.Search, models: list[ModelToExport], directory: Path, layout: str = "nasforge"
) -> list[ExportedModel]:
    """Write ``models`` under ``directory`` (absent or empty) in ``layout``."""
    if layout not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, not {layout!r}")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ExportError(f"{directory} is not an empty folder: choose a new one")
    directory.mkdir(parents=True, exist_ok=True)
    writer = _write_nasforge if layout == "nasforge" else _write_lemur
    exported = []
    for model in models:
        summary = model.candidate.summary
        exported.append(
            ExportedModel(
                summary.name,
                summary.candidate_id,
                validation_score(scores_from_pb(summary.scores)) or 0.0,
                model.weights is not None,
                model.weights_note,
                writer(search, model.candidate, model.weights, model.weights_note, directory),
            )
        )
    if layout == "lemur":
        entries = [
            _weights_entry(
                m.name, f"nasforge/{m.name}/weights.pt" if m.weights else None, m.weights_note
            )
            for m in exported
        ]
        _write_manifest(directory, directory, [f for m in exported for f in m.files], entries)
    return exported


async def _verified_weights(candidate: pb.Candidate, download: Downloader):
    """The candidate's weights, matched against its record; (None, why) when there are none."""
    if not candidate.weights.sha256:
        return None, candidate.weights.unavailable_reason or "the trainer kept no weights"
    data, note = await download(candidate.summary.candidate_id)
    if data is not None and _sha256(data) != candidate.weights.sha256:
        raise ExportError(
            f"the weights of {candidate.summary.name} do not match the sha256 of its record"
        )
    return data, note


def _write_nasforge(search, candidate, weights, note, directory: Path) -> list[str]:
    name = candidate.summary.name
    folder = directory / name
    folder.mkdir()
    files = {
        f"{name}.py": candidate.code.encode(),
        "hyperparameters.json": _json(dict(sorted(candidate.hyperparameters.items()))),
        "epochs.json": _json([_epoch(e) for e in candidate.epochs]),
        "record.json": _json(_record(search, candidate)),
    }
    if weights is not None:
        files["weights.pt"] = weights
    for file_name, content in files.items():
        (folder / file_name).write_bytes(content)
    written = [f"{name}/{file_name}" for file_name in files]
    kept = "weights.pt" if weights is not None else None
    _write_manifest(folder, directory, written, [_weights_entry(name, kept, note)])
    return [*written, f"{name}/manifest.json"]


def _write_lemur(search, candidate, weights, note, directory: Path) -> list[str]:
    name, task = candidate.summary.name, search.spec.task
    dataset = task.dataset.replace("_", "-")  # LEMUR splits the stat folder's name on "_"
    metric = _LEMUR_METRIC.get(headline_metric(task.task), headline_metric(task.task))
    files = {f"ab/nn/nn/{name}.py": candidate.code.encode()}
    stat = f"ab/nn/stat/{task.task}_{dataset}_{metric}_{name}"
    for epoch in candidate.epochs:
        files[f"{stat}/{epoch.epoch}.json"] = _json([_lemur_trial(candidate, task, epoch)])
    files[f"nasforge/{name}/record.json"] = _json(_record(search, candidate))
    if weights is not None:
        files[f"nasforge/{name}/weights.pt"] = weights
    for path, content in files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(content)
    return list(files)


def _lemur_trial(candidate: pb.Candidate, task: common_pb2.TaskSpec, epoch) -> dict:
    """One trial as LEMUR's stat files hold it: its figure, duration (ns), hyperparameters,
    transform, batch and uid. The figure is the epoch's validation metric: the test split is
    scored once, on the best epoch (it is in record.json)."""
    trial = {
        "accuracy": epoch.validation_metric,
        "batch": task.in_shape[0] if task.in_shape else 0,
        "duration": int(epoch.wall_time_ms * 1_000_000),
        "epoch": epoch.epoch,
        **dict(sorted(candidate.hyperparameters.items())),
        "transform": task.transform,
    }
    trial["uid"] = hashlib.md5(json.dumps(trial, sort_keys=True).encode()).hexdigest()
    return trial


def _epoch(epoch) -> dict:
    return MessageToDict(
        epoch, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _record(search: pb.Search, candidate: pb.Candidate) -> dict:
    """What the candidate is and where it came from; its code and epochs have files of their
    own."""
    whole = MessageToDict(candidate, preserving_proto_field_name=True)
    for key in ("code", "epochs", "hyperparameters"):
        whole.pop(key, None)
    scores = scores_from_pb(candidate.summary.scores)
    return {
        **whole,
        "validation_score": validation_score(scores),
        "task": MessageToDict(search.spec.task, preserving_proto_field_name=True),
    }


def _weights_entry(name: str, path: str | None, note: str) -> dict:
    """A model's weights in the manifest: where they are, or why they are absent."""
    if path is None:
        return {"model": name, "weights": "absent", "reason": note}
    return {"model": name, "weights": "present", "path": path}


def _write_manifest(folder: Path, root: Path, files: list[str], models: list[dict]) -> None:
    """manifest.json in ``folder``: every file (``files`` are relative to ``root``; listed
    relative to ``folder``) with its sha256 and size, and each model's weights."""
    entries = []
    for relative in files:
        data = (root / relative).read_bytes()
        path = (root / relative).relative_to(folder).as_posix()
        entries.append({"path": path, "sha256": _sha256(data), "size_bytes": len(data)})
    (folder / "manifest.json").write_bytes(_json({"files": entries, "models": models}))


def _json(value) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True) + "\n").encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
