"""search_core.scores: one headline score per task."""

from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION
from search_core.scores import IMAGE_BLIND_MARGIN, headline_score, image_blind


def test_classification_ranks_by_accuracy_and_captioning_by_corpus_bleu4():
    scores = {"accuracy": 0.8, "bleu4_corpus": 0.2, "bleu4_sentence": 0.3}
    assert headline_score(IMG_CLASSIFICATION, scores) == 0.8
    assert headline_score(IMG_CAPTIONING, scores) == 0.2


def test_a_score_that_was_not_measured_is_none():
    assert headline_score(IMG_CAPTIONING, {"bleu4_sentence": 0.3}) is None
    assert headline_score(IMG_CLASSIFICATION, {}) is None


def test_a_captioner_that_does_not_beat_the_constant_caption_by_the_margin_is_image_blind():
    baseline = {"bleu4_constant_baseline": 0.10}
    assert image_blind({**baseline, "bleu4_corpus": 0.10}) is True
    assert image_blind({**baseline, "bleu4_corpus": 0.10 + IMAGE_BLIND_MARGIN}) is True
    assert image_blind({**baseline, "bleu4_corpus": 0.05}) is True
    assert image_blind({**baseline, "bleu4_corpus": 0.10 + 2 * IMAGE_BLIND_MARGIN}) is False


def test_image_blindness_is_unknown_without_both_test_figures():
    assert image_blind({"accuracy": 0.9}) is None
    assert image_blind({"bleu4_corpus": 0.3}) is None
    assert image_blind({"bleu4_constant_baseline": 0.1, "validation": 0.5}) is None


def test_image_blindness_reads_the_test_figures_not_the_validation_score():
    scores = {"bleu4_corpus": 0.05, "bleu4_constant_baseline": 0.10, "validation": 0.9}
    assert image_blind(scores) is True
