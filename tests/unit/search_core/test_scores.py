"""search_core.scores: one headline score per task."""

from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION
from search_core.scores import headline_score


def test_classification_ranks_by_accuracy_and_captioning_by_corpus_bleu4():
    scores = {"accuracy": 0.8, "bleu4_corpus": 0.2, "bleu4_sentence": 0.3}
    assert headline_score(IMG_CLASSIFICATION, scores) == 0.8
    assert headline_score(IMG_CAPTIONING, scores) == 0.2


def test_a_score_that_was_not_measured_is_none():
    assert headline_score(IMG_CAPTIONING, {"bleu4_sentence": 0.3}) is None
    assert headline_score(IMG_CLASSIFICATION, {}) is None
