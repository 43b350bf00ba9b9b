"""search_core.engine.training_record: the training half of a candidate's provenance merges
into the generation half without touching its keys; weights only when the trainer kept some."""

import hashlib

from netapi.outcomes import Outcome
from netapi.tasks import TaskSpec
from rpc.convert import outcome_to_pb
from search_core.domain import CandidateRecord
from search_core.engine.training_record import TRAINING_PROVENANCE_KEYS, record_training
from search_core.services import TrainingRequest, TrainingResult

SPEC = TaskSpec("img-classification", "mnist", (64, 1, 28, 28), (10,), {"lr": 0.1}, "norm")
REQUEST = TrainingRequest("print('net')\n", SPEC, 3, 42, "c1", 10, 10, 10, 1000, 2000)
GENERATION = {
    "prompt_name": "whole-model",
    "model": {"name": "qwen"},
    "sampling": {"seed": 7},
    "code_sha256": "from an older record",
}


def _candidate() -> CandidateRecord:
    candidate = CandidateRecord(candidate_id="c1", search_id="s1", tenant_id="acme", slot=0)
    candidate.provenance = dict(GENERATION)
    return candidate


def test_training_keys_merge_into_the_generation_record():
    candidate = _candidate()
    result = TrainingResult(
        Outcome.SUCCESS,
        {"validation": 0.5},
        job_id="j1",
        best_epoch=2,
        weights_sha256="ab" * 32,
        weights_size_bytes=123,
        runtime_image_digest="sha256:img",
        dataset_digest="sha256:data",
    )
    record_training(candidate, REQUEST, result)
    assert candidate.weights == {"job_id": "j1", "sha256": "ab" * 32, "size_bytes": 123, "epoch": 2}
    provenance = candidate.provenance
    assert {k: provenance[k] for k in ("prompt_name", "model", "sampling")} == {
        k: GENERATION[k] for k in ("prompt_name", "model", "sampling")
    }
    assert set(TRAINING_PROVENANCE_KEYS) <= set(provenance)
    assert provenance["code_sha256"] == hashlib.sha256(REQUEST.code.encode()).hexdigest()
    assert provenance["dataset_name"] == "mnist" and provenance["training_seed"] == 42
    assert provenance["training_epochs"] == 3 and provenance["runtime_image_digest"] == "sha256:img"


def test_a_training_that_kept_no_weights_records_none():
    candidate = _candidate()
    candidate.weights = {"job_id": "old", "sha256": "cd" * 32, "size_bytes": 1, "epoch": 1}
    record_training(candidate, REQUEST, TrainingResult(Outcome.TRAINING_FAILURE, job_id="j2"))
    assert candidate.weights == {}  # the retrained code's: the old job's were another code's
    assert candidate.provenance["prompt_name"] == "whole-model"


def test_weights_the_trainer_refused_are_a_note_on_the_weights_not_an_error():
    """A successful job whose container left a file that is not a plain state_dict: the
    trainer keeps no weights and says why; the candidate keeps its success and its score,
    and the reason is what the API shows for its weights."""
    from nasforge.trainer_svc.v1 import trainer_svc_pb2
    from search_core.convert import weights_to_pb
    from search_core.grpc_clients import _training_result

    reason = "the weights were not kept: it does not load with torch.load(weights_only=True)"
    finished = trainer_svc_pb2.JobFinished(
        outcome=outcome_to_pb(Outcome.SUCCESS), best_epoch=1, runtime_image_digest="sha256:i"
    )
    finished.error.type, finished.error.message = "WeightsRefused", reason
    result = _training_result("j3", finished)
    assert result.outcome is Outcome.SUCCESS
    assert (result.error_type, result.error_message, result.weights_note) == ("", "", reason)
    candidate = _candidate()
    record_training(candidate, REQUEST, result)
    assert candidate.weights == {"unavailable_reason": reason}
    shown = weights_to_pb(candidate.weights)
    assert not shown.available and shown.unavailable_reason == reason and not shown.sha256


def test_a_failed_jobs_error_stays_its_error():
    from nasforge.trainer_svc.v1 import trainer_svc_pb2
    from search_core.grpc_clients import _training_result

    finished = trainer_svc_pb2.JobFinished(outcome=outcome_to_pb(Outcome.RUNTIME_ERROR))
    finished.error.type, finished.error.message = "RuntimeError", "boom"
    result = _training_result("j4", finished)
    assert (result.error_type, result.error_message, result.weights_note) == (
        "RuntimeError",
        "boom",
        "",
    )
