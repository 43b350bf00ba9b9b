"""The generation half of a candidate's record of origin: the prompt, the answer, the model and
the settings that wrote the code it was trained with.

The record is one dict on the candidate (CandidateRecord.provenance); the training half
(runtime image, dataset, code hash, seed, epochs) is written beside it by the engine's
evaluation, so each half is merged in, never written over the other. A repaired candidate's
record names the answer whose code was trained last; its earlier rounds stay in its history.
"""

from dataclasses import asdict
from typing import Any

from search_core.domain import CandidateRecord
from search_core.services import Generation, PromptRequest, SamplingSettings

# The keys this half owns, all written each time (so a later answer replaces a whole record).
GENERATION_KEYS = (
    "prompt_name",
    "prompt_version",
    "prompt_sha256",
    "raw_answer",
    "reasoning",
    "model",
    "sampling",
)


def generation_record(
    prompt: PromptRequest | None, answer: Generation, requested: SamplingSettings
) -> dict[str, Any]:
    """The record of one answer. The prompt is named as the gateway rendered it ("name@version"
    in its answer), else as search_core asked for it (no version: the gateway's newest); the
    sampling is what the gateway says it used, else what search_core asked for."""
    name, _, version = answer.prompt_id.partition("@")
    if not name and prompt is not None:
        name = prompt.template
    used = answer.parameters_used
    model = asdict(answer.model_identity)
    model["name"] = model["name"] or answer.model  # a gateway that names no identity
    sampling = {
        key: value if value is not None else getattr(requested, key)
        for key, value in asdict(used).items()
    }
    return {
        "prompt_name": name,
        "prompt_version": version,
        "prompt_sha256": answer.prompt_sha256,
        "raw_answer": answer.raw_text,
        "reasoning": answer.reasoning,
        "model": model,
        "sampling": sampling,
    }


def record_generation(candidate: CandidateRecord, record: dict[str, Any]) -> None:
    """Make `record` the candidate's generation half, keeping its training half as it is."""
    candidate.provenance = {**candidate.provenance, **{key: record[key] for key in GENERATION_KEYS}}
