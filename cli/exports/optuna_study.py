"""A search as an Optuna study, so optuna-dashboard (or any Optuna code) can browse it.

One trial per finished candidate, in the order they finished: its hyperparameters as the
trial's params, each epoch's validation metric as an intermediate value, and the validation
score as the trial's value (maximised). The held-out test figures are user attributes only:
a study that steered on them would be steering on test data. A candidate that did not end
with a validation score is a FAIL trial with its outcome and error. Nothing is read from
nasforge's database: the candidates come from the public API (ListCandidates, GetCandidate),
so the export works against any deployment with a token.
"""

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb

_OUTCOMES = {
    value: name.removeprefix("OUTCOME_").lower() for name, value in common_pb2.Outcome.items()
}


def _distribution(value: float) -> FloatDistribution:
    """A range that holds the value (LEMUR's hyperparameters live in [0, 1])."""
    return FloatDistribution(min(0.0, value), max(1.0, value))


def _trial(candidate: pb.Candidate) -> optuna.trial.FrozenTrial:
    summary = candidate.summary
    params = dict(sorted(candidate.hyperparameters.items()))
    attributes = {
        "candidate_id": summary.candidate_id,
        "name": summary.name,
        "outcome": _OUTCOMES.get(summary.outcome, str(summary.outcome)),
        "model": candidate.model,
        "mutation": candidate.mutation,
        "parent": summary.parent,
        "code_md5": candidate.code_md5,
    }
    scores = summary.scores
    for field in ("accuracy", "bleu4_corpus", "parameter_count", "flops"):
        if scores.HasField(field):
            key = field if field in ("parameter_count", "flops") else f"test_{field}"
            attributes[key] = getattr(scores, field)  # held out: never the trial's value
    if candidate.error.message:
        attributes["error"] = candidate.error.message[:500]
    finished = summary.outcome == common_pb2.OUTCOME_SUCCESS and scores.HasField("validation")
    return optuna.trial.create_trial(
        state=TrialState.COMPLETE if finished else TrialState.FAIL,
        value=scores.validation if finished else None,
        params=params,
        distributions={name: _distribution(value) for name, value in params.items()},
        intermediate_values={e.epoch: e.validation_metric for e in candidate.epochs},
        user_attrs=attributes,
    )


def write_study(
    search: pb.Search, candidates: list[pb.Candidate], storage: str, study_name: str = ""
) -> optuna.Study:
    """Create the study `study_name` (default: the search id) in `storage` (an Optuna RDB
    URL such as sqlite:///study.db) with one trial per candidate; an existing study of that
    name is refused by Optuna (DuplicatedStudyError)."""
    study = optuna.create_study(
        storage=storage, study_name=study_name or search.search_id, direction="maximize"
    )
    study.set_user_attr("search_id", search.search_id)
    study.set_user_attr("value", "validation score (held-out test figures are user attributes)")
    for candidate in candidates:
        study.add_trial(_trial(candidate))
    return study
