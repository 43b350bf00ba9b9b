"""A candidate's scores: the validation score that steers, the held-out test score shown.

Every method, the leaderboard and the feedback an LLM reads choose by the validation score
(the trainer's best epoch on the validation split). The test figures are measured once, on
the best epoch, and only shown: a search that chose by them would report an optimistic,
overfitted figure as its result.
"""

from collections.abc import Mapping

from netapi.tasks import IMG_CAPTIONING

ACCURACY = "accuracy"
BLEU4_CORPUS = "bleu4_corpus"
VALIDATION = "validation"

# Scores field that ranks a task's candidates; tasks not named here rank by accuracy.
_HEADLINE_METRIC = {IMG_CAPTIONING: BLEU4_CORPUS}


def headline_metric(task: str) -> str:
    """The Scores field of `task`'s test figure: corpus BLEU-4 for captioning, accuracy
    otherwise (the validation score is the same metric on the validation split)."""
    return _HEADLINE_METRIC.get(task, ACCURACY)


def headline_score(task: str, scores: Mapping[str, float]) -> float | None:
    """The candidate's held-out test score for `task`, None when it was not measured."""
    value = scores.get(headline_metric(task))
    return float(value) if value is not None else None


def validation_score(scores: Mapping[str, float]) -> float | None:
    """The score a search steers by: the best epoch's validation metric, None if unmeasured."""
    value = scores.get(VALIDATION)
    return float(value) if value is not None else None


BLEU4_CONSTANT_BASELINE = "bleu4_constant_baseline"

# How far (absolute corpus BLEU-4, test split) a captioner must beat the image-blind baseline,
# the most frequent training caption written for every image, to count as looking at the
# image. A model that writes one caption for all images lands at the baseline; 0.01 keeps
# noise on a small test split from passing for image use.
IMAGE_BLIND_MARGIN = 0.01


def image_blind(scores: Mapping[str, float]) -> bool | None:
    """Whether a captioner's test corpus BLEU-4 fails to beat the image-blind baseline by
    IMAGE_BLIND_MARGIN: it produces no meaningful captions, however it ranks. None when the
    two were not measured (a classifier, a model that never finished training)."""
    model, baseline = scores.get(BLEU4_CORPUS), scores.get(BLEU4_CONSTANT_BASELINE)
    if model is None or baseline is None:
        return None
    return float(model) <= float(baseline) + IMAGE_BLIND_MARGIN


def steering_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """What of `scores` a search method may see: the validation score, never a test figure."""
    return {VALIDATION: scores[VALIDATION]} if VALIDATION in scores else {}
