"""`nasforge search tensorboard`: a finished search through a real server, written as event
files and read back with TensorBoard's own EventAccumulator (what `tensorboard --logdir`
loads): scalars with their steps and values, the HParams sessions and experiment, the text
card."""

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata

from cli.exports.tensorboard_events import export_search, write_logdir
from nasforge.search_core.v1 import search_core_pb2 as pb
from tests.unit.cli.test_optuna_export import finished_search  # noqa: F401 (the fixture)


def _load(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder))
    events.Reload()
    return events


def _points(events: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(s.step, pytest.approx(s.value)) for s in events.Scalars(tag)]


def _hparams(events: EventAccumulator) -> dict[str, bytes]:
    return events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)


async def test_each_candidate_is_a_run_of_scalars_hparams_and_a_card(
    finished_search,  # noqa: F811
    tmp_path,
):
    client, search_id = finished_search
    logdir = tmp_path / "tb"
    folders = await export_search(client, search_id, logdir)
    candidates = await client.candidates(search_id)
    assert [f.name for f in folders] == [c.summary.name for c in candidates]

    statuses = []
    for candidate, folder in zip(candidates, folders, strict=True):
        events = _load(folder)  # read back
        content = _hparams(events)
        start = hparams_metadata.parse_session_start_info_plugin_data(
            content[hparams_metadata.SESSION_START_INFO_TAG]
        )
        assert start.hparams["epochs"].number_value == 2
        assert start.hparams["seed"].number_value == candidate.summary.slot
        end = hparams_metadata.parse_session_end_info_plugin_data(
            content[hparams_metadata.SESSION_END_INFO_TAG]
        )
        statuses.append(end.status)
        card = events.Tensors("candidate")[0].tensor_proto.string_val[0].decode()
        assert f"| candidate_id | {candidate.summary.candidate_id} |" in card
        if end.status == api_pb2.STATUS_FAILURE:
            assert "| outcome | shape_mismatch |" in card
            assert "RuntimeError: bad shape" in card
            assert events.Tags()["scalars"] == []  # never trained, nothing scored
            continue
        assert start.hparams["lr"].number_value == pytest.approx(0.1)
        assert _points(events, "epoch/validation_metric") == [(1, 0.5), (2, 0.5)]
        assert _points(events, "epoch/train_loss") == [(1, 1.0), (2, 0.5)]
        assert [s.step for s in events.Scalars("epoch/samples_per_second")] == [1, 2]
        assert _points(events, "score/validation") == [(2, 0.5)]
        assert _points(events, "score/parameter_count") == [(2, 10)]  # the check's count
        # the held-out figure: only in its own group, never beside the choosable scores
        assert _points(events, "held_out_test/accuracy") == [(2, 0.25)]
        assert not {"score/accuracy", "accuracy"} & set(events.Tags()["scalars"])
    assert sorted(statuses) == sorted(
        [api_pb2.STATUS_SUCCESS, api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE]
    )

    experiment = hparams_metadata.parse_experiment_plugin_data(
        _hparams(_load(logdir))[hparams_metadata.EXPERIMENT_TAG]
    )
    assert [h.name for h in experiment.hparam_infos] == ["epochs", "lr", "seed"]
    metrics = [m.name.tag for m in experiment.metric_infos]
    # validation first (what the search chose by), the held-out ones last
    assert metrics == ["score/validation", "score/parameter_count", "held_out_test/accuracy"]
    assert experiment.metric_infos[2].display_name == "test accuracy (held out)"


async def test_exporting_again_replaces_its_own_files_only(
    finished_search,  # noqa: F811
    tmp_path,
):
    client, search_id = finished_search
    logdir = tmp_path / "tb"
    folders = await export_search(client, search_id, logdir)
    mine = folders[0] / "notes.txt"
    mine.write_text("the user's own file")
    await export_search(client, search_id, logdir)

    assert mine.read_text() == "the user's own file"
    for folder in folders:
        assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    trained = next(f for f in folders if _load(f).Tags()["scalars"])
    assert [s.step for s in _load(trained).Scalars("epoch/train_loss")] == [1, 2]  # not 4


def test_hostile_and_repeated_names_stay_inside_the_logdir(tmp_path):
    def candidate(candidate_id: str, name: str) -> pb.Candidate:
        return pb.Candidate(summary=pb.CandidateSummary(candidate_id=candidate_id, name=name))

    candidates = [
        candidate("c-1", "../../outside"),
        candidate("c-2", "C10-Net-ab"),
        candidate("c-3", "C10-Net-ab"),
        candidate("c/4", ""),
    ]
    logdir = tmp_path / "tb"
    folders = write_logdir(pb.Search(search_id="s-1"), candidates, logdir)
    assert [f.name for f in folders] == ["_.._outside", "C10-Net-ab-c-2", "C10-Net-ab-c-3", "c_4"]
    assert all(f.parent == logdir and f.is_dir() for f in folders)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tb"]
