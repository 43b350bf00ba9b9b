"""A training container that lies: every line it can write, and the score it earns anyway.

The container below is scripted (no Docker): it plays a hostile candidate that owns the
harness's process and writes whatever it likes on the result channel. The trainer must store
only what its own code computes from the candidate's predictions and the held-out labels.
"""

import hashlib
import io
import json
from pathlib import Path

import pytest
import torch

from netapi.outcomes import Outcome
from tests.unit.trainer_svc.jobs import small_job
from trainer_svc.config import TrainerSettings
from trainer_svc.container_run import Cancellation, ContainerTraining
from trainer_svc.events import EpochDone
from trainer_svc.prepare import PreparedData

VAL = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
TEST = torch.tensor([1, 1, 2, 2, 3, 3, 4, 4])
NONCE = "f" * 32


def _state_dict_bytes() -> bytes:
    """A plain state_dict as torch.save writes it to a buffer: what the trainer's check of
    the weights (trainer_svc.weights_check) accepts and saves again byte for byte."""
    buffer = io.BytesIO()
    torch.save({"fc.weight": torch.arange(6.0).view(2, 3), "fc.bias": torch.zeros(2)}, buffer)
    return buffer.getvalue()


WEIGHTS = _state_dict_bytes()
IMAGE = "sha256:" + "e" * 64
JOB = small_job(epochs=2, validation_samples=len(VAL), test_samples=len(TEST))


class ScriptedContainer:
    """Says the given lines; records what the host answers."""

    def __init__(self, lines: list[object]) -> None:
        self._lines = [
            json.dumps(line).encode() if not isinstance(line, bytes) else line for line in lines
        ]
        self.sent: list[bytes] = []
        self.killed = False
        self.stderr_tail = b""

    def send_line(self, line: bytes) -> None:
        self.sent.append(line)

    def read_line(self, deadline: float) -> bytes | None:
        return self._lines.pop(0) if self._lines else None

    def kill(self) -> None:
        self.killed = True

    def wait_exit(self, timeout_seconds: float) -> dict:
        return {"ExitCode": 0, "OOMKilled": False}

    @property
    def id(self) -> str:
        return "scripted"


@pytest.fixture
def prepared(tmp_path) -> PreparedData:
    labels = tmp_path / "labels"
    labels.mkdir()
    torch.save({"targets": {"val": VAL, "test": TEST}, "test_references": {}}, labels / "labels.pt")
    return PreparedData(tmp_path / "data", (1, 28, 28), 10, {}, labels, "sha256:" + "d" * 64)


def _run(prepared, lines, monkeypatch) -> tuple:
    training = ContainerTraining(TrainerSettings(weights_root=prepared.directory), None, None)
    # What Docker alone can answer: the file the container left in /out, the image it ran.
    monkeypatch.setattr("trainer_svc.container_run._read_weights", lambda *args: WEIGHTS)
    monkeypatch.setattr("trainer_svc.container_run._image_digest", lambda *args: IMAGE)
    monkeypatch.setattr(ContainerTraining, "job_document", lambda *args: b"{}\n")
    container, events = ScriptedContainer(lines), []
    finished = training._follow(
        "job1", JOB, prepared, container, events.append, Cancellation(), tenant="acme"
    )
    return finished, events, container


def _epoch(predictions, **lies) -> dict:
    return {
        "epoch": 1,
        "train_loss": 0.5,
        "samples_per_second": 100.0,
        "wall_time_ms": 10.0,
        "predictions": predictions,
        **lies,
    }


HALF_RIGHT_VAL = [0, 1, 2, 3, 4, 0, 0, 0, 0, 0]  # 5 of 10
ALL_ONES_TEST = [1] * len(TEST)  # 2 of 8


def test_the_score_is_computed_from_predictions_not_taken_from_the_line(prepared, monkeypatch):
    """Attack: report test_accuracy 1.0, a best validation metric of 1.0 and the nonce in
    every line. Expected: the lies are ignored; accuracy is what the predictions earn."""
    lies = {"nonce": NONCE, "validation_metric": 1.0, "test_accuracy": 1.0}
    finished, events, container = _run(
        prepared,
        [
            _epoch(HALF_RIGHT_VAL, **lies),
            _epoch(list(range(10)), **lies),
            {
                "final": True,
                "outcome": "success",
                "predictions": ALL_ONES_TEST,
                "best_epoch": 1,
                "best_validation_metric": 1.0,
                "scores": {"accuracy": 1.0},
                **lies,
            },
        ],
        monkeypatch,
    )
    assert finished.outcome is Outcome.SUCCESS
    # validation 1.0 is earned: epoch 2's predictions are all right on the validation split
    assert finished.scores == {"accuracy": pytest.approx(2 / 8), "validation": 1.0}
    assert finished.best_epoch == 2  # the host's choice: epoch 2 scored 1.0 on validation
    assert [e.validation_metric for e in events if isinstance(e, EpochDone)] == [0.5, 1.0]
    assert [json.loads(line)["keep"] for line in container.sent[1:]] == [True, True]
    # the best epoch's weights are kept and named, with the image and the data it ran on
    kept = Path(finished.weights_path)
    assert kept == prepared.directory / "job1.pt" and kept.read_bytes() == WEIGHTS
    assert finished.weights_sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert finished.weights_size_bytes == len(WEIGHTS)
    assert finished.runtime_image_digest == IMAGE
    assert finished.dataset_digest == prepared.digest


def test_the_validation_score_a_search_steers_by_is_the_hosts(prepared, monkeypatch):
    """Attack: a candidate that is half right on validation claims a validation score of 1.0
    everywhere it can. Expected: the score searches choose by is the 0.5 it earned."""
    lies = {"validation": 1.0, "validation_metric": 1.0, "best_validation_metric": 1.0}
    finished, _, _ = _run(
        prepared,
        [
            _epoch(HALF_RIGHT_VAL, **lies),
            _epoch(HALF_RIGHT_VAL, **lies),
            {
                "final": True,
                "outcome": "success",
                "predictions": ALL_ONES_TEST,
                "scores": {"validation": 1.0, "accuracy": 1.0},
                **lies,
            },
        ],
        monkeypatch,
    )
    assert finished.scores["validation"] == pytest.approx(0.5)
    assert finished.best_epoch == 1


def test_success_before_the_epochs_ran_is_refused(prepared, monkeypatch):
    """Attack: the frame-walking forgery, a final success line before any epoch ran.
    Expected: runtime_error; no score."""
    finished, _, _ = _run(
        prepared,
        [
            {
                "final": True,
                "outcome": "success",
                "predictions": [int(t) for t in TEST],
                "nonce": NONCE,
                "test_accuracy": 1.0,
            }
        ],
        monkeypatch,
    )
    assert finished.outcome is Outcome.RUNTIME_ERROR and finished.scores == {}
    assert "0 of 2 epochs" in finished.error_message


@pytest.mark.parametrize("claim", ["infra_error", "cancelled", "duplicate", "no-such-outcome"])
def test_a_container_cannot_shift_the_blame(prepared, monkeypatch, claim):
    """Attack: end with an outcome that is not the candidate's fault (infra_error is never
    counted against the model and may be retried). Expected: runtime_error."""
    finished, _, _ = _run(
        prepared,
        [{"final": True, "outcome": claim, "error": {"type": "X", "message": "not me"}}],
        monkeypatch,
    )
    assert finished.outcome is Outcome.RUNTIME_ERROR


def test_a_candidate_may_own_up_to_its_failure(prepared, monkeypatch):
    finished, _, _ = _run(
        prepared,
        [
            {
                "final": True,
                "outcome": "training_failure",
                "error": {"type": "Divergence", "message": "mean loss 1e9"},
            }
        ],
        monkeypatch,
    )
    assert finished.outcome is Outcome.TRAINING_FAILURE and finished.error_type == "Divergence"


@pytest.mark.parametrize(
    "predictions",
    [
        list(range(9)),  # one image unanswered
        [0] * 11,  # one too many
        [10] * 10,  # a class that does not exist
        [-1] * 10,
        [True] * 10,
        [0.5] * 10,
        "0123456789",
        None,
    ],
)
def test_malformed_predictions_are_the_candidates_runtime_error(prepared, monkeypatch, predictions):
    """Attack: predictions shaped to crash or skew the scorer. Expected: runtime_error."""
    finished, _, container = _run(prepared, [_epoch(predictions)], monkeypatch)
    assert finished.outcome is Outcome.RUNTIME_ERROR
    assert "predictions" in finished.error_message and container.killed


def test_more_epochs_than_asked_for_are_refused(prepared, monkeypatch):
    """Attack: report many epochs to fish for a lucky validation score. Expected: refused."""
    finished, _, _ = _run(prepared, [_epoch(HALF_RIGHT_VAL)] * 3, monkeypatch)
    assert (
        finished.outcome is Outcome.RUNTIME_ERROR and "more than 2 epochs" in finished.error_message
    )


def test_the_keep_answer_follows_the_hosts_validation_metric(prepared, monkeypatch):
    _, _, container = _run(
        prepared,
        [_epoch(list(range(10))), _epoch(HALF_RIGHT_VAL)],
        monkeypatch,
    )
    assert [json.loads(line)["keep"] for line in container.sent[1:]] == [True, False]


def test_the_container_never_gets_held_out_labels(tmp_path, fashion_dir):
    """What the candidate's container mounts holds no validation or test label at all."""
    from trainer_svc.prepare import Sizes, prepare

    prepared = prepare(
        "fashion-mnist", "norm", Sizes(50, 20, 30, 1), tmp_path / "prepared", Path("unused")
    )
    data = torch.load(prepared.data_file, weights_only=True)
    assert set(data["targets"]) == {"train"}
    for path in prepared.directory.rglob("*"):
        assert b"test_references" not in path.read_bytes()
    assert not prepared.labels_directory.is_relative_to(prepared.directory.parent)
