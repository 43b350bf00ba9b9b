"""Pieces of the in-container training loop, and the host's BLEU on token ids."""

import pytest
import torch
from nltk.translate.bleu_score import corpus_bleu

from netapi.harness.training import Batches, LossRecorder, record_first_loss, train
from netapi.tasks import EOS, PAD, SOS, TaskSpec
from tests.unit.netapi import lemur_style
from trainer_svc.evaluation import corpus_bleu4, references_of


@pytest.mark.parametrize(
    ("hypotheses", "references"),
    [
        ([[4, 5, 6, 7, 8]], [[[4, 5, 6, 7, 8]]]),
        ([[4, 5, 6, 7, 9, 10]], [[[4, 5, 6, 7, 8, 10], [4, 5, 6, 7]]]),
        (
            [[4, 5, 6, 7, 8, 9], [10, 11, 12, 13, 14]],
            [[[4, 5, 6, 7, 8, 9, 10]], [[10, 11, 12, 13, 15], [9, 10, 11, 12, 13, 14]]],
        ),
    ],
)
def test_corpus_bleu4_agrees_with_nltk(hypotheses, references):
    assert corpus_bleu4(hypotheses, references) == pytest.approx(
        corpus_bleu(references, hypotheses), abs=1e-9
    )


def test_corpus_bleu4_hand_computed():
    # 6-token hypothesis vs one 6-token reference differing in the last token:
    # p1 = 5/6, p2 = 4/5, p3 = 3/4, p4 = 2/3, brevity 1 -> (5/6*4/5*3/4*2/3)^(1/4) = (1/3)^(1/4)
    assert corpus_bleu4([[1 + 3, 5, 6, 7, 8, 9]], [[[4, 5, 6, 7, 8, 10]]]) == pytest.approx(
        (1 / 3) ** 0.25
    )
    assert corpus_bleu4([[4, 5, 6]], [[[4, 5, 6]]]) == 0.0  # no 4-grams at all


def test_references_drop_special_tokens():
    captions = torch.tensor([[[SOS, 4, 5, EOS, PAD], [SOS, 6, EOS, PAD, PAD]]])
    assert references_of(captions) == [[[4, 5], [6]]]


def test_loss_recorder_records_and_delegates():
    recorder = LossRecorder(torch.nn.CrossEntropyLoss(ignore_index=0))
    value = recorder(torch.randn(3, 4), torch.tensor([1, 2, 3]))
    assert recorder.values == [pytest.approx(float(value))]
    assert recorder.ignore_index == 0


def test_batches_cover_the_data_once_per_epoch_and_normalise():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).clone()
    targets = torch.arange(10)
    batches = Batches(
        images, targets, 4, [0.0], [1.0], flip=False, seed=1, device=torch.device("cpu")
    )
    seen = torch.cat([labels for _, labels in batches])
    assert sorted(seen.tolist()) == list(range(10)) and len(batches) == 3
    first_images, first_labels = next(iter(batches))
    assert torch.allclose(first_images[:, 0, 0, 0], first_labels.float() / 255)


def _fashion_data(path, samples: int = 16) -> None:
    generator = torch.Generator().manual_seed(0)
    images = {
        split: torch.randint(0, 256, (samples, 1, 28, 28), dtype=torch.uint8, generator=generator)
        for split in ("train", "val", "test")
    }
    targets = {split: torch.arange(samples) % 10 for split in images}
    torch.save({"images": images, "targets": targets, "mean": [0.5], "std": [0.5]}, path)


class _Channel:
    """The control channel as the host drives it: keeps every epoch's weights."""

    def __init__(self) -> None:
        self.lines: list[dict] = []

    def emit(self, **fields) -> None:
        self.lines.append(fields)

    def keep(self) -> bool:
        return True


@pytest.mark.parametrize(
    "code",
    [lemur_style.CANONICAL, lemur_style.SINGLE_LOSS, lemur_style.CRITERION],
    ids=["tuple", "single-loss", "criterion"],
)
def test_training_records_the_loss_however_the_criteria_are_written(tmp_path, code):
    """One loss as criteria is a registered submodule, which only a module may replace: the
    recorder hooks it instead, so the model's learn() and state_dict are untouched."""
    _fashion_data(tmp_path / "data.pt")
    job = {
        "code": code,
        "spec": TaskSpec("img-classification", "fashion-mnist", (8, 1, 28, 28), (10,), {}, "norm"),
        "seed": 1,
        "epochs": 2,
        "data_path": str(tmp_path / "data.pt"),
        "out_dir": str(tmp_path),
    }
    channel = _Channel()
    train(job, channel)
    epochs, final = channel.lines[:-1], channel.lines[-1]
    assert final["outcome"] == "success", final
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert all(e["train_loss"] > 0 for e in epochs)
    saved = torch.load(tmp_path / "best.pt", weights_only=True)
    assert not any("recorder" in key or "_loss" in key for key in saved)


def test_a_plain_function_loss_is_wrapped_in_the_shape_the_model_set():
    class Model:
        def __init__(self) -> None:
            self.criteria = torch.nn.functional.cross_entropy

    model = Model()
    recorder = record_first_loss(model, model.criteria)
    model.criteria(torch.randn(3, 4), torch.tensor([1, 2, 3]))
    assert model.criteria is recorder and len(recorder.values) == 1
