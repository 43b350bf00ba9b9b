"""Asking the model for a candidate's code: the first answer and each repair, shaped into
code (merged, fixed), asked again while an answer is not new, what every call cost, and the
record of the answer whose code the candidate keeps (search_core.generation.provenance)."""

from dataclasses import dataclass, replace
from typing import Any

from netapi.outcomes import Outcome, Stage
from netapi.static_check import check_source
from search_core import identity
from search_core.domain import CandidateRecord
from search_core.engine.context import CandidateContext
from search_core.engine.duplicates import duplicate_of, own_attempt
from search_core.engine.feedback import repair_feedback
from search_core.engine.proposals import Proposal
from search_core.generation.provenance import generation_record, record_generation
from search_core.generation.shaping import ShapedCode, shape_answer
from search_core.search_config import SearchConfig
from search_core.services import CheckVerdict, Generation, PromptRequest, SamplingSettings


@dataclass
class Attempt:
    code: str
    shaped: ShapedCode | None = None  # how an answer became the code (LLM candidates)
    static: CheckVerdict | None = None  # the static verdict, when it failed statically
    # What the code copies (None: it is new); judged in generation when the static checks pass.
    duplicate_of: str | None = None


async def new_answer(
    ctx: CandidateContext, candidate: CandidateRecord, proposal: Proposal
) -> tuple[Attempt | None, Generation]:
    """The first answer, asked again (another seed, a higher temperature) up to
    unchanged_retries times while it is not new: its parent or an example copied, or an
    earlier candidate's code. The last answer stands (a duplicate then ends the candidate);
    (None, the answer) when it held no code. The answer that stands is recorded on the
    candidate."""
    retries, retry = ctx.config.generation.unchanged_retries, 0
    while True:
        attempt, answer, record = await _generate(
            ctx,
            candidate,
            proposal.prompt,
            _seed(ctx.config, candidate, 0, retry),
            base=proposal.parent_code,
            edit=proposal.edit,
            temperature=_temperature(ctx.config, retry),
        )
        if attempt is None:
            record_generation(candidate, record)
            return None, answer
        duplicate = attempt.duplicate_of
        if attempt.static is not None:  # not judged in generation
            duplicate = await duplicate_of(ctx, candidate, attempt.code)
        if duplicate is None or retry == retries:
            record_generation(candidate, record)
            return attempt, answer
        candidate.history.append({"attempt": 0, "retry": retry, "not_new": duplicate})
        retry += 1


def _seed(config: SearchConfig, candidate: CandidateRecord, round_: int, retry: int) -> int:
    """The sampling seed of a candidate's answer in repair round `round_` (0: its first
    answer), retry `retry`: distinct for each, and the first answer's is the search seed
    plus the slot, as it always was."""
    base = config.seed + candidate.slot
    return base if round_ == retry == 0 else (base * 8 + round_) * 8 + retry


# Each retry after an answer that was not new (or a repair that changed nothing) samples this
# much hotter.
UNCHANGED_TEMPERATURE_STEP = 0.3


def _temperature(config: SearchConfig, retry: int) -> float:
    """Each retry after an answer that was not new samples hotter."""
    return min(2.0, config.temperature + UNCHANGED_TEMPERATURE_STEP * retry)


async def _generate(
    ctx: CandidateContext,
    candidate: CandidateRecord,
    prompt: PromptRequest | None,
    seed: int,
    *,
    base: str,
    edit: bool,
    temperature: float | None = None,
) -> tuple[Attempt | None, Generation, dict[str, Any]]:
    """samples_per_step answers; the first that passes the static checks and is new wins.

    Each answer is shaped first: merged into `base` (edit mode) and fixed, taking what is
    missing from `base`, and, when it passes the static checks, judged new or not
    (`Attempt.duplicate_of`). Returns (None, the first answer) when no answer held any code;
    with either, the record of that answer (generation.provenance), which the caller keeps
    on the candidate only when it keeps the answer.
    """
    config = ctx.config
    spec = config.task.check_spec()
    answers: list[tuple[Generation, dict[str, Any]]] = []
    attempts: list[tuple[Attempt, Generation, dict[str, Any]]] = []
    for sample in range(config.samples_per_step):
        requested = SamplingSettings(
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature if temperature is None else temperature,
            seed=seed * 16 + sample,
        )
        answer = await ctx.call(
            "generate",
            lambda requested=requested: ctx.services.generate(
                prompt,
                spec,
                model=config.model or ctx.default_model,
                max_new_tokens=requested.max_new_tokens,
                temperature=requested.temperature,
                seed=requested.seed,
            ),
        )
        candidate.model = answer.model
        _count_usage(candidate, answer)
        record = generation_record(prompt, answer, requested)
        answers.append((answer, record))
        if not answer.code.strip():
            continue
        attempt = _shaped_attempt(ctx, answer, base, edit)
        if attempt.static is None:
            attempt.duplicate_of = await duplicate_of(ctx, candidate, attempt.code)
        attempts.append((attempt, answer, record))
        if attempt.static is None and attempt.duplicate_of is None:
            return attempt, answer, record
    if not attempts:
        first, record = answers[0]
        if first.outcome is Outcome.SUCCESS:
            first = replace(first, outcome=Outcome.NO_CODE)
        return None, first, record
    return attempts[0]


def _shaped_attempt(ctx: CandidateContext, answer: Generation, base: str, edit: bool) -> Attempt:
    """The answer merged and fixed, with its static verdict: the gateway's, when the code is
    the answer as written; otherwise the same checks run here again on the new code."""
    shaped = shape_answer(
        answer.code,
        merge_into=base if edit else "",
        parent=base,
        fix=ctx.config.generation.fixes,
    )
    if shaped.code == answer.code:
        outcome, findings, message = answer.outcome, answer.findings, answer.error_message
        warnings = answer.warnings
    else:
        verdict = check_source(shaped.code, ctx.config.task.task)
        outcome, findings, warnings = verdict.outcome, verdict.findings, verdict.warnings
        message = "; ".join(f.message for f in findings[:3])
    static = None
    if outcome is not Outcome.SUCCESS:
        static = CheckVerdict(
            outcome,
            stage=Stage.STATIC,
            error_type="StaticCheck",
            error_message=message,
            findings=tuple(findings),
            warnings=tuple(warnings),
        )
    return Attempt(shaped.code, shaped, static)


def _count_usage(candidate: CandidateRecord, answer: Generation) -> None:
    usage = candidate.llm_usage
    usage["calls"] = usage.get("calls", 0) + 1
    usage["prompt_tokens"] = usage.get("prompt_tokens", 0) + answer.prompt_tokens
    usage["generated_tokens"] = usage.get("generated_tokens", 0) + answer.generated_tokens
    usage["seconds"] = round(usage.get("seconds", 0.0) + answer.wall_time_ms / 1000, 3)


async def repair_answer(
    ctx: CandidateContext,
    candidate: CandidateRecord,
    proposal: Proposal | None,
    verdict: CheckVerdict,
) -> Attempt | None:
    """One repair round's new code, or None. An answer that returns the code unchanged is
    discarded and asked again (another seed, a higher temperature) up to unchanged_retries
    times; each discarded answer is recorded in the candidate's history. The answer whose
    code is returned becomes the candidate's generation record (its code is what is trained
    next)."""
    config = ctx.config
    edit = config.generation.mode == "edit"
    feedback = repair_feedback(
        verdict,
        style=config.repair_feedback,
        shape_trace=config.repair_shape_trace,
        code=candidate.code,
    )
    variables = {
        "code": candidate.code,
        "error": feedback,
        "attempt": str(candidate.repair_attempts),
    }
    if edit and proposal is not None and proposal.memory:
        variables["memory"] = proposal.memory
    prompt = PromptRequest("repair_edit" if edit else "repair", variables)
    for retry in range(config.generation.unchanged_retries + 1):
        attempt, _, record = await _generate(
            ctx,
            candidate,
            prompt,
            _seed(config, candidate, candidate.repair_attempts, retry),
            base=candidate.code,
            edit=edit,
            temperature=_temperature(config, retry),
        )
        if attempt is None:
            return None
        code = attempt.code
        md5, structure = identity.normalised_md5(code), identity.structure_hash(code)
        if own_attempt(candidate, md5, structure) is None:
            record_generation(candidate, record)
            return attempt
        # An unchanged answer is a failed repair, not a new candidate: no store query needed.
        candidate.history.append(
            {
                "attempt": candidate.repair_attempts,
                "unchanged": True,
                "retry": retry,
                "outcome": verdict.outcome.value,
            }
        )
    return None
