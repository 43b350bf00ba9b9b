"""trainer_svc.scoring: accuracy, BLEU-4 (nltk and the COCO evaluator), the constant baseline."""

import dataclasses
import json

import pytest
import torch

from trainer_svc.data.vocab import annotation_captions, tokenize, tokenizer_name
from trainer_svc.scoring import (
    CaptionScores,
    accuracy,
    bleu4_coco,
    bleu4_nltk,
    eval_subset,
    most_frequent_caption,
    score_captions,
)

UNRELATED = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def test_refs(caption_data):
    """{image_id: [5 references]} of the test split, in annotation order."""
    refs: dict[int, list[str]] = {}
    for ann in json.loads(caption_data.annotations["test"].read_text())["annotations"]:
        refs.setdefault(ann["image_id"], []).append(ann["caption"])
    return refs


@pytest.fixture(scope="module")
def train_captions(caption_data):
    return annotation_captions(caption_data.annotations["train"])


def test_accuracy_of_logits_and_of_predicted_classes():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.1, 0.2]])
    labels = torch.tensor([0, 1, 1, 1])
    assert accuracy(logits, labels) == pytest.approx(0.75)
    assert accuracy(torch.tensor([1, 1, 1, 1]), labels) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        accuracy(logits, labels[:3])


def test_eval_subset_is_fixed_by_its_seed():
    ids = range(100)
    assert eval_subset(ids, 10, seed=3) == eval_subset(reversed(ids), 10, seed=3)
    assert eval_subset(ids, 10, seed=3) != eval_subset(ids, 10, seed=4)
    assert eval_subset(ids, None, seed=3) == list(ids) == eval_subset(ids, 500, seed=3)


def test_most_frequent_caption_ignores_case_and_punctuation():
    captions = ["A dog.", "a cat", "a DOG", "a cat!", "A dog"]
    assert most_frequent_caption(captions) == "a dog"
    assert most_frequent_caption(["b", "a"]) == "b"  # a tie goes to the first seen


def test_identical_captions_score_one_both_ways(test_refs):
    predictions = {k: refs[0] for k, refs in test_refs.items()}
    assert bleu4_nltk(predictions, test_refs) == pytest.approx(1.0)
    assert bleu4_coco(predictions, test_refs) == pytest.approx(1.0, abs=1e-6)


def test_unrelated_captions_score_near_zero_both_ways(test_refs):
    predictions = dict.fromkeys(test_refs, UNRELATED)
    assert bleu4_nltk(predictions, test_refs) < 0.05
    assert bleu4_coco(predictions, test_refs) < 0.05


def test_oracle_beats_the_constant_baseline_which_beats_nonsense(test_refs, train_captions):
    # The oracle describes each image in a phrasing the references do not contain.
    held_out = {k: refs[1:] for k, refs in test_refs.items()}
    oracle = score_captions({k: r[0] for k, r in test_refs.items()}, held_out, train_captions)
    nonsense = score_captions(dict.fromkeys(test_refs, UNRELATED), held_out, train_captions)
    assert oracle.bleu4_nltk > oracle.baseline_bleu4_nltk > nonsense.bleu4_nltk
    assert oracle.bleu4_coco > oracle.baseline_bleu4_coco > nonsense.bleu4_coco
    assert oracle.beats_baseline and not nonsense.beats_baseline
    assert oracle.baseline_caption == most_frequent_caption(train_captions)
    assert oracle.tokenizer == tokenizer_name() and oracle.n_images == len(test_refs)


def test_the_two_methods_rank_models_alike(test_refs, train_captions):
    ids = sorted(test_refs)
    held_out = {k: test_refs[k][1:] for k in ids}
    shifted = {k: test_refs[ids[(i + 1) % len(ids)]][0] for i, k in enumerate(ids)}
    models = {
        "oracle": {k: test_refs[k][0] for k in ids},
        "another image's caption": shifted,
        "first half": {k: " ".join(tokenize(test_refs[k][0])[:12]) for k in ids},
        "constant": dict.fromkeys(ids, most_frequent_caption(train_captions)),
        "nonsense": dict.fromkeys(ids, UNRELATED),
    }
    nltk_scores = {name: bleu4_nltk(p, held_out) for name, p in models.items()}
    coco_scores = {name: bleu4_coco(p, held_out) for name, p in models.items()}
    assert sorted(models, key=nltk_scores.get) == sorted(models, key=coco_scores.get)
    for scores in (nltk_scores, coco_scores):
        assert scores["oracle"] > max(scores["constant"], scores["another image's caption"])
        assert scores["nonsense"] == min(scores.values())


def test_a_model_that_ignores_the_image_scores_as_the_baseline(test_refs, train_captions):
    constant = most_frequent_caption(train_captions)
    scores = score_captions(dict.fromkeys(test_refs, constant), test_refs, train_captions)
    assert scores.bleu4_nltk == pytest.approx(scores.baseline_bleu4_nltk)
    assert scores.bleu4_coco == pytest.approx(scores.baseline_bleu4_coco)
    assert not scores.beats_baseline


def test_scores_come_from_a_seeded_subset_and_are_frozen(test_refs, train_captions):
    predictions = {k: refs[2] for k, refs in test_refs.items()}
    a = score_captions(predictions, test_refs, train_captions, subset_size=10, seed=5)
    b = score_captions(predictions, test_refs, train_captions, subset_size=10, seed=5)
    assert a == b and a.n_images == 10 and a.seed == 5
    subset = eval_subset(test_refs, 10, seed=5)
    only = {k: predictions[k] for k in subset}
    assert a.bleu4_nltk == pytest.approx(bleu4_nltk(only, {k: test_refs[k] for k in subset}))
    assert isinstance(a, CaptionScores)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.bleu4_nltk = 1.0  # type: ignore[misc]


def test_every_referenced_image_needs_a_prediction(test_refs, train_captions):
    first = min(test_refs)
    with pytest.raises(ValueError, match="no prediction"):
        score_captions({first: "a bag"}, test_refs, train_captions)


def test_line_breaks_inside_a_caption_do_not_shift_the_others():
    references = {1: ["a dog\ron the mat"], 2: ["b c\u2028d"], 3: ["two red bags and a coat"]}
    predictions = {1: "a dog on the mat", 2: "b c d", 3: "two red bags and a coat"}
    assert bleu4_coco(predictions, references) == pytest.approx(1.0, abs=1e-6)
