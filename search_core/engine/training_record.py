"""What a candidate's training leaves on its record: the weights the trainer kept and the
training half of its provenance (runtime image, data, exact code, seed, epochs).

The generation half of the provenance (prompt, answer, model, sampling) is written while
the code is generated (search_core.generation.provenance); the two halves share one dict,
so this merges its own keys in and leaves the others as they are.
"""

import hashlib

from search_core.domain import CandidateRecord
from search_core.services import TrainingRequest, TrainingResult

TRAINING_PROVENANCE_KEYS = (
    "runtime_image_digest",
    "dataset_name",
    "dataset_digest",
    "code_sha256",
    "training_seed",
    "training_epochs",
)


def code_sha256(code: str) -> str:
    """SHA-256 (hex) of the code exactly as sent to the trainer (its UTF-8 bytes)."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def record_training(
    candidate: CandidateRecord, request: TrainingRequest, result: TrainingResult
) -> None:
    """Record the job's kept weights (none: an empty dict) and how it was trained."""
    candidate.weights = (
        {
            "job_id": result.job_id,
            "sha256": result.weights_sha256,
            "size_bytes": result.weights_size_bytes,
            "epoch": result.best_epoch,
        }
        if result.job_id and result.weights_sha256
        else {"unavailable_reason": result.weights_note}
        if result.weights_note
        else {}
    )
    training = {
        "runtime_image_digest": result.runtime_image_digest,
        "dataset_name": request.spec.dataset,
        "dataset_digest": result.dataset_digest,
        "code_sha256": code_sha256(request.code),
        "training_seed": request.seed,
        "training_epochs": request.epochs,
    }
    candidate.provenance = {**candidate.provenance, **training}
