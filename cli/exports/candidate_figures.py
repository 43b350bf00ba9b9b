"""What the MLflow and TensorBoard exports read off a candidate, written once: its name as a
file name, its outcome and generator, every figure its epochs carry, its training parameters,
and its scores split into those a search may choose by and the held-out test figures.

Only the API's messages are read (pb.Candidate, pb.Search), so these work on whatever a
deployment answers. A figure the proto gains later (a new EpochResult or Scores field) is
exported without a change here; a new score counts as held out until listed below.
"""

import re

from nasforge.client import outcome_name
from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb

# Scores a search may choose by (validation) or that describe the model's cost. Every other
# score is measured on the test split: exported, labelled held out, never a selection score.
CHOOSABLE_SCORES = ("validation", "parameter_count", "flops", "peak_memory_bytes")
HELD_OUT_NOTE = "test_* figures are held-out test scores: recorded, never used to choose"

_GENERATORS = {pb.GENERATOR_LLM: "llm", pb.GENERATOR_TEMPLATE: "template"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def outcome(candidate: pb.Candidate) -> str:
    """ "success", "shape_mismatch", ... (nasforge.client's names)."""
    return outcome_name(candidate.summary.outcome)


def generator_name(candidate: pb.Candidate) -> str:
    summary = candidate.summary
    return _GENERATORS.get(summary.generator_kind, summary.generator)


def labels(candidate: pb.Candidate, search: pb.Search) -> dict[str, str]:
    """What every export names a candidate by (MLflow tags, TensorBoard's card); empty
    values are kept, each export drops them as it likes."""
    summary = candidate.summary
    return {
        "search_id": search.search_id,
        "candidate_id": summary.candidate_id,
        "outcome": outcome(candidate),
        "generator": generator_name(candidate),
        "mutation": candidate.mutation,
        "model": candidate.model,
        "parent": summary.parent,
        "code_md5": candidate.code_md5,
    }


def succeeded(candidate: pb.Candidate) -> bool:
    """Trained and scored: ended in success with a validation score (the Optuna export's
    COMPLETE trials); anything else is exported as a failed run."""
    summary = candidate.summary
    return summary.outcome == common_pb2.OUTCOME_SUCCESS and summary.scores.HasField("validation")


def safe_component(text: str) -> str:
    """`text` made safe as one path component: names and ids come from a server, and a `/`
    or `..` in one must not write outside the export's folder. Empty when nothing is left."""
    return _UNSAFE.sub("_", text).strip(".")


def file_name(candidate: pb.Candidate) -> str:
    """The candidate's name as a file or folder name (its id when the name is unusable)."""
    summary = candidate.summary
    return safe_component(summary.name) or safe_component(summary.candidate_id) or "candidate"


def epoch_figures(epoch: common_pb2.EpochResult) -> dict[str, float]:
    """Every figure one epoch carries (train_loss, validation_metric, ...), by field name."""
    return {
        field.name: float(getattr(epoch, field.name))
        for field in epoch.DESCRIPTOR.fields
        if field.name != "epoch"
    }


def split_scores(scores: common_pb2.Scores) -> tuple[dict[str, float], dict[str, float]]:
    """(choosable and cost scores, held-out test scores), each by field name, set fields only."""
    choosable: dict[str, float] = {}
    held_out: dict[str, float] = {}
    for field, value in scores.ListFields():
        (choosable if field.name in CHOOSABLE_SCORES else held_out)[field.name] = float(value)
    return choosable, held_out


def training_parameters(candidate: pb.Candidate, search: pb.Search) -> dict[str, float | int]:
    """Its hyperparameters plus the epochs and seed it was trained with.

    The candidate's provenance says both once the trainer recorded it. Older candidates fall
    back to the search's spec: its epochs, and the engine's rule for the seed (the search's
    seed plus the candidate's slot, search_core/engine/evaluation.py)."""
    parameters: dict[str, float | int] = dict(sorted(candidate.hyperparameters.items()))
    provenance = candidate.provenance
    if provenance.training_epochs > 0:
        parameters["epochs"] = provenance.training_epochs
        parameters["seed"] = provenance.training_seed
    else:
        if search.spec.train_epochs > 0:
            parameters["epochs"] = search.spec.train_epochs
        parameters["seed"] = search.spec.seed + candidate.summary.slot
    return parameters
