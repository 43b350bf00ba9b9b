"""The headline score of a task: the one number that ranks its candidates."""

from collections.abc import Mapping

from netapi.tasks import IMG_CAPTIONING

ACCURACY = "accuracy"
BLEU4_CORPUS = "bleu4_corpus"

# Scores field that ranks a task's candidates; tasks not named here rank by accuracy.
_HEADLINE_METRIC = {IMG_CAPTIONING: BLEU4_CORPUS}


def headline_metric(task: str) -> str:
    """The Scores field that ranks candidates of `task`: corpus BLEU-4 for captioning,
    accuracy otherwise."""
    return _HEADLINE_METRIC.get(task, ACCURACY)


def headline_score(task: str, scores: Mapping[str, float]) -> float | None:
    """The candidate's headline score for `task`, None when it was not measured."""
    value = scores.get(headline_metric(task))
    return float(value) if value is not None else None
