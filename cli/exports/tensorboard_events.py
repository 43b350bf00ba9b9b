"""A search as TensorBoard event files: one run folder per candidate under a log directory,
so `tensorboard --logdir DIR` charts its epochs and its HParams tab compares candidates.

Per candidate (its folder named after it): every per-epoch figure as a scalar
`epoch/<figure>` with step = epoch; the final choosable and cost scores as `score/<name>` and
the held-out test scores as `held_out_test/<name>` (their own group in TensorBoard, never
the HParams table's first metric), both at the last epoch's step; its hyperparameters, epochs
and seed through the HParams plugin with SUCCESS or FAILURE as the session's status; and a
`candidate` text card (ids, outcome, generator, mutation, model, parent, error). The log
directory's own event file declares the HParams experiment (every hyperparameter and score).

Written with the tensorboard package's own event writer and protos: no TensorFlow and no
torch. Exporting again replaces the event files this export wrote (named *.nasforge); other
files in the folders are left alone.
"""

import asyncio
import time
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import summary_v2 as hparams
from tensorboard.plugins.text import metadata as text_metadata
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from cli.exports.candidate_figures import (
    HELD_OUT_NOTE,
    epoch_figures,
    file_name,
    labels,
    safe_component,
    split_scores,
    succeeded,
    training_parameters,
)
from nasforge.client import AsyncSearchClient
from nasforge.search_core.v1 import search_core_pb2 as pb

SUFFIX = ".nasforge"  # marks the event files this export writes (and may replace)
HELD_OUT_GROUP = "held_out_test"


def write_logdir(search: pb.Search, candidates: list[pb.Candidate], logdir: Path) -> list[Path]:
    """Write the candidates' runs under `logdir`; return their folders, in order. Two
    candidates with the same name get folders suffixed with their candidate ids."""
    logdir.mkdir(parents=True, exist_ok=True)
    folders = _run_folders(candidates, logdir)
    _write_events(logdir, [_experiment(search, candidates)], time.time())
    for candidate, folder in zip(candidates, folders, strict=True):
        _write_events(folder, _run_events(candidate, search), _seconds(candidate))
    return folders


def _run_folders(candidates: list[pb.Candidate], logdir: Path) -> list[Path]:
    names = [file_name(c) for c in candidates]
    return [
        logdir
        / (name if names.count(name) == 1 else f"{name}-{safe_component(c.summary.candidate_id)}")
        for name, c in zip(names, candidates, strict=True)
    ]


def _write_events(folder: Path, summaries: list[tuple[int, summary_pb2.Summary]], wall: float):
    """Replace this export's event file in `folder` with one holding `summaries`."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"events.out.tfevents.*{SUFFIX}"):
        old.unlink()
    writer = EventFileWriter(str(folder), filename_suffix=SUFFIX)
    try:
        for step, summary in summaries:
            writer.add_event(event_pb2.Event(wall_time=wall, step=step, summary=summary))
    finally:
        writer.close()


def _scalar(tag: str, value: float) -> summary_pb2.Summary:
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])


def _run_events(
    candidate: pb.Candidate, search: pb.Search
) -> list[tuple[int, summary_pb2.Summary]]:
    events = [
        (
            0,
            hparams.hparams_pb(
                training_parameters(candidate, search), trial_id=file_name(candidate)
            ),
        )
    ]
    last_step = 0
    for epoch in candidate.epochs:
        last_step = max(last_step, epoch.epoch)
        events.extend(
            (epoch.epoch, _scalar(f"epoch/{name}", value))
            for name, value in epoch_figures(epoch).items()
        )
    choosable, held_out = split_scores(candidate.summary.scores)
    events.extend((last_step, _scalar(f"score/{name}", v)) for name, v in choosable.items())
    events.extend(
        (last_step, _scalar(f"{HELD_OUT_GROUP}/{name}", v)) for name, v in held_out.items()
    )
    events.append((last_step, _text("candidate", _card(candidate, search))))
    status = api_pb2.STATUS_SUCCESS if succeeded(candidate) else api_pb2.STATUS_FAILURE
    events.append((last_step, _session_end(status, _seconds(candidate))))
    return events


def _experiment(
    search: pb.Search, candidates: list[pb.Candidate]
) -> tuple[int, summary_pb2.Summary]:
    """The HParams experiment: every hyperparameter any candidate has, and every score, the
    validation score first (the one a search chooses by)."""
    names = sorted({name for c in candidates for name in training_parameters(c, search)})
    scores = set()
    for candidate in candidates:
        choosable, held_out = split_scores(candidate.summary.scores)
        scores.update(f"score/{name}" for name in choosable)
        scores.update(f"{HELD_OUT_GROUP}/{name}" for name in held_out)
    ordered = sorted(
        scores, key=lambda tag: (tag != "score/validation", tag.startswith(HELD_OUT_GROUP), tag)
    )
    metrics = [
        hparams.Metric(
            tag,
            display_name=tag.replace(f"{HELD_OUT_GROUP}/", "test ")
            + (" (held out)" if tag.startswith(HELD_OUT_GROUP) else ""),
        )
        for tag in ordered
    ]
    config = hparams.hparams_config_pb(
        [hparams.HParam(name) for name in names], metrics, time_created_secs=time.time()
    )
    config.value[
        0
    ].metadata.summary_description = f"nasforge search {search.search_id}; {HELD_OUT_NOTE}"
    return 0, config


def _session_end(status: int, end_seconds: float) -> summary_pb2.Summary:
    """The HParams session's status (summary_v2 has no TensorFlow-free writer of its own)."""
    data = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=end_seconds)
    )
    return summary_pb2.Summary(
        value=[
            summary_pb2.Summary.Value(
                tag=hparams_metadata.SESSION_END_INFO_TAG,
                metadata=hparams_metadata.create_summary_metadata(data),
                tensor=hparams_metadata.NULL_TENSOR,
            )
        ]
    )


def _text(tag: str, markdown: str) -> summary_pb2.Summary:
    """A text card (the text plugin's own writer needs TensorFlow)."""
    tensor = TensorProto(
        dtype=7,  # DT_STRING
        string_val=[markdown.encode("utf-8")],
        tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]),
    )
    return summary_pb2.Summary(
        value=[
            summary_pb2.Summary.Value(
                tag=tag,
                metadata=text_metadata.create_summary_metadata(display_name=tag, description=""),
                tensor=tensor,
            )
        ]
    )


def _card(candidate: pb.Candidate, search: pb.Search) -> str:
    rows = {
        **labels(candidate, search),
        "error": f"{candidate.error.type}: {candidate.error.message}".strip(": "),
        "held out": HELD_OUT_NOTE,
    }
    lines = ["| field | value |", "| --- | --- |"]
    lines.extend(f"| {key} | {_cell(value)} |" for key, value in rows.items() if value)
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:2000]


def _seconds(candidate: pb.Candidate) -> float:
    summary = candidate.summary
    if summary.HasField("finished_at"):
        return summary.finished_at.ToMilliseconds() / 1000
    return time.time()


async def export_search(client: AsyncSearchClient, search_id: str, logdir: Path) -> list[Path]:
    """`nasforge search tensorboard`: the search's finished candidates, read through the
    public API, written under `logdir`."""
    search = await client.get(search_id)
    candidates = await client.candidates(search_id)
    return await asyncio.to_thread(write_logdir, search, candidates, logdir)
