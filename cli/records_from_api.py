"""search_core's records rebuilt from the public API's messages (the inverse of
search_core.convert's search_to_pb and candidate_to_pb), so that code written for the store's
records (the report) runs on what any deployment serves to a token.

What the wire does not carry stays at its default: the tenant, a candidate's status (every
candidate the API lists is done), its stage, genome, hashes and signature, and when it was
planned (the search's start stands in: the report's wall time reads only the earliest).
"""

import json

from nasforge.client import pb
from netapi.outcomes import Outcome
from rpc.convert import outcome_from_pb, scores_from_pb, warning_from_pb
from search_core.domain import (
    CandidateRecord,
    CandidateStatus,
    EpochMetrics,
    Generator,
    Method,
    SearchRecord,
    SearchState,
)
from search_core.scores import validation_score

_COUNTS = ("parameter_count", "flops", "peak_memory_bytes")  # attributes, not scores
_IDEA_APPLIED = {
    pb.IDEA_APPLICATION_APPLIED: True,
    pb.IDEA_APPLICATION_NOT_APPLIED: False,
}


def _seconds(message, field: str) -> float | None:
    return getattr(message, field).ToNanoseconds() / 1e9 if message.HasField(field) else None


def _count(scores, field: str) -> int | None:
    return getattr(scores, field) if scores.HasField(field) else None


def _enum_value(enum, value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix).lower()


def search_record(search: pb.Search) -> SearchRecord:
    """The SearchRecord of a Search message; its config is the stored one (config_json)."""
    return SearchRecord(
        search_id=search.search_id,
        tenant_id="",
        method=Method(_enum_value(pb.SearchMethod, search.spec.method, "SEARCH_METHOD_")),
        config=json.loads(search.spec.config_json or "{}"),
        state=SearchState(_enum_value(pb.SearchState, search.state, "SEARCH_STATE_")),
        created_at=_seconds(search, "created_at") or 0.0,
        finished_at=_seconds(search, "finished_at"),
        error_type=search.error.type,
        error_message=search.error.message,
        status_message=search.status_message,
    )


def candidate_record(candidate: pb.Candidate, search: SearchRecord) -> CandidateRecord:
    """The CandidateRecord of a Candidate message of ``search``."""
    summary = candidate.summary
    outcome = outcome_from_pb(summary.outcome)
    scores = {
        name: value for name, value in scores_from_pb(summary.scores).items() if name not in _COUNTS
    }
    return CandidateRecord(
        candidate_id=summary.candidate_id,
        search_id=candidate.search_id,
        tenant_id=search.tenant_id,
        slot=summary.slot,
        status=CandidateStatus.DONE,
        name=summary.name,
        code=candidate.code,
        code_md5=candidate.code_md5,
        parent=summary.parent,
        generator=Generator(_enum_value(pb.Generator, summary.generator_kind, "GENERATOR_")),
        prompt_variant=candidate.prompt_variant,
        model=candidate.model,
        snippets=list(candidate.snippets),
        idea=dict(candidate.idea),
        mutation=candidate.mutation,
        outcome=outcome,
        error_type=candidate.error.type,
        error_message=candidate.error.message,
        findings=[
            {
                "rule": f.rule,
                "line": f.line,
                "message": f.message,
                **({"outcome": outcome_from_pb(f.outcome).value} if f.outcome else {}),
            }
            for f in candidate.findings
        ],
        warnings=[warning_from_pb(w).to_dict() for w in summary.warnings],
        parameter_count=_count(summary.scores, "parameter_count"),
        flops=_count(summary.scores, "flops"),
        hyperparameters=dict(candidate.hyperparameters),
        epochs=[
            EpochMetrics(
                epoch=e.epoch,
                train_loss=e.train_loss,
                validation_metric=e.validation_metric,
                samples_per_second=e.samples_per_second,
                wall_time_ms=e.wall_time_ms,
            )
            for e in candidate.epochs
        ],
        # The engine's rule: a candidate's score is its validation score, when it succeeded.
        score=validation_score(scores) if outcome is Outcome.SUCCESS else None,
        scores=scores,
        repair_attempts=candidate.repair_attempts,
        history=[json.loads(entry) for entry in candidate.history_json],
        created_at=search.created_at,
        finished_at=_seconds(summary, "finished_at"),
        fixes=[{"rule": f.rule, "detail": f.detail} for f in candidate.fixes],
        generation={"mode": candidate.generation_mode} if candidate.generation_mode else {},
        idea_applied=_IDEA_APPLIED.get(candidate.idea_application),
        unused_parameters=list(candidate.unused_parameters),
        llm_usage={
            "calls": candidate.llm_usage.calls,
            "prompt_tokens": candidate.llm_usage.prompt_tokens,
            "generated_tokens": candidate.llm_usage.generated_tokens,
            "seconds": candidate.llm_usage.seconds,
        },
    )
