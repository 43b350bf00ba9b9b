"""One candidate's way through the pipeline: generate, deduplicate, check, repair, train.

Every step is saved before the next begins, so a killed process resumes a candidate at
its last saved status and never evaluates a finished one again.
"""

import asyncio
import logging

from netapi.outcomes import Outcome, Stage
from search_core import identity
from search_core.domain import CandidateRecord, CandidateStatus, EpochMetrics, Generator, now
from search_core.engine.answers import Attempt, new_answer, repair_answer
from search_core.engine.context import CandidateContext, StageCaller, with_examples
from search_core.engine.duplicates import duplicate_of
from search_core.engine.feedback import training_hyperparameters
from search_core.engine.proposals import Proposal
from search_core.engine.training_record import record_training
from search_core.engine.tuning import tuned_answer
from search_core.generation.fixes import LAYER_SIZE_RULE, fix_layer_size
from search_core.generation.shaping import ShapedCode, idea_applied
from search_core.generation.similarity import signature
from search_core.scores import validation_score
from search_core.services import CheckVerdict, PromptTooLong, TrainingRequest, TrainingResult

__all__ = ["CandidateContext", "StageCaller", "evaluate", "finish_as"]

log = logging.getLogger(__name__)


async def evaluate(ctx: CandidateContext, candidate: CandidateRecord, proposal: Proposal | None):
    """Bring the candidate to its final outcome from wherever it stopped."""
    ctx = with_examples(ctx, proposal)
    if candidate.status == CandidateStatus.PLANNED:
        assert proposal is not None, "a planned candidate needs its proposal"
        _apply_proposal(candidate, proposal)
        attempt = await _first_code(ctx, candidate, proposal)
        if candidate.is_done:
            return
        verdict = await _static_or_sandbox(ctx, candidate, attempt)
        verdict = await _repair_loop(ctx, candidate, proposal, verdict)
        if verdict.outcome is not Outcome.SUCCESS:
            await _finish_failed(ctx, candidate, verdict)
            return
        await _save_checked(ctx, candidate, verdict)
    elif candidate.status == CandidateStatus.GENERATED:
        # Deduplicated before it was saved; the check died with the process: check again.
        verdict = await _check(ctx, candidate)
        verdict = await _repair_loop(ctx, candidate, proposal, verdict)
        if verdict.outcome is not Outcome.SUCCESS:
            await _finish_failed(ctx, candidate, verdict)
            return
        await _save_checked(ctx, candidate, verdict)
    if candidate.status == CandidateStatus.CHECKED:
        await _train_and_repair(ctx, candidate, proposal)


def _apply_proposal(candidate: CandidateRecord, proposal: Proposal) -> None:
    candidate.generator = proposal.generator
    candidate.parent = proposal.parent
    candidate.mutation = proposal.mutation
    candidate.idea = dict(proposal.idea)
    candidate.snippets = list(proposal.snippets)
    candidate.name = proposal.prefix  # completed with the md5 once there is code


async def _first_code(ctx: CandidateContext, candidate: CandidateRecord, proposal: Proposal):
    """The candidate's first code, or None when it ended without any (saved finished)."""
    try:
        return await _first_answer(ctx, candidate, proposal)
    except PromptTooLong as refused:
        # The method's prompt does not fit the model: its attempt failed, nothing broke.
        candidate.model = candidate.model or ctx.config.model or ctx.default_model
        await _finish(
            ctx, candidate, Outcome.PROMPT_TOO_LONG, "generate", "PromptTooLong", str(refused)
        )
        return None


async def _first_answer(ctx: CandidateContext, candidate: CandidateRecord, proposal: Proposal):
    if proposal.generator == Generator.TEMPLATE and proposal.tuning_prompt is None:
        attempt = Attempt(proposal.code)
    else:
        if proposal.tuning_prompt is not None:
            attempt, answer = await tuned_answer(ctx, candidate, proposal)
            error_type, default_message = "TuningAnswer", answer.outcome.value
        else:
            candidate.generation = {"mode": "edit" if proposal.edit else "whole"}
            attempt, answer = await new_answer(ctx, candidate, proposal)
            error_type = "NoCode"
            default_message = "no code could be extracted from the answer"
        if attempt is None:
            message = answer.error_message or default_message
            await _finish(ctx, candidate, answer.outcome, "extract", error_type, message)
            return None
    await _accept_code(ctx, candidate, attempt, proposal.hyperparameters)
    return attempt


async def _accept_code(
    ctx: CandidateContext,
    candidate: CandidateRecord,
    attempt: Attempt,
    preferred_hyperparameters: dict[str, float],
) -> None:
    """Deduplicate and save the code as one step; a duplicate ends the candidate."""
    async with ctx.dedup_lock:
        duplicate = await duplicate_of(ctx, candidate, attempt.code)
        _set_code(candidate, attempt, preferred_hyperparameters)
        if duplicate is None:
            candidate.status = CandidateStatus.GENERATED
            await ctx.store.put_candidate(candidate)
    await _audit_generated(ctx, candidate, attempt.code, duplicate)  # outside the lock: it fsyncs
    if duplicate is None:
        return
    await _finish(
        ctx,
        candidate,
        Outcome.DUPLICATE,
        "extract",
        "Duplicate",
        f"the code is {duplicate}"
        if duplicate.startswith("a near copy")
        else f"the code or its module structure is the same as {duplicate}",
    )


async def _audit_generated(
    ctx: CandidateContext, candidate: CandidateRecord, code: str, duplicate: str | None
) -> None:
    """Which model (or template) produced which code for whom: joined to the sandbox's and
    the trainer's records by candidate_id, or by code_md5 of the exact bytes sent."""
    if ctx.audit is None:
        return
    await asyncio.to_thread(
        ctx.audit.record,
        "candidate_generated",
        candidate.tenant_id,
        search_id=candidate.search_id,
        candidate_id=candidate.candidate_id,
        generator=str(candidate.generator),
        model=candidate.model,
        prompt_variant=candidate.prompt_variant,
        attempt=candidate.repair_attempts,
        code_md5=identity.source_md5(code),
        identity_md5=candidate.code_md5,
        duplicate_of=duplicate or "",
    )


def _set_code(candidate: CandidateRecord, attempt: Attempt, preferred: dict[str, float]) -> None:
    code = attempt.code
    prefix = identity.prefix_of(candidate.name) if candidate.code else candidate.name
    candidate.code = code
    candidate.code_md5 = identity.normalised_md5(code)
    candidate.structure_hash = identity.structure_hash(code)
    candidate.name = identity.model_name(prefix, code)
    candidate.hyperparameters = training_hyperparameters(code, preferred)
    candidate.warnings = []  # the earlier code's; this code's come with its check
    minhash = signature(code)
    candidate.signature = minhash.to_list() if minhash is not None else None
    if attempt.shaped is not None:
        candidate.fixes = list(attempt.shaped.fixes)
        if attempt.shaped.merge:
            candidate.generation["merge"] = attempt.shaped.merge
        else:
            candidate.generation.pop("merge", None)


async def _static_or_sandbox(
    ctx: CandidateContext, candidate: CandidateRecord, attempt: Attempt | None
) -> CheckVerdict:
    if candidate.is_done:
        return CheckVerdict(candidate.outcome or Outcome.DUPLICATE)
    if attempt is not None and attempt.static is not None:
        # The static checks already failed it: no container needed.
        return _with_warnings_recorded(candidate, attempt.static)
    return await _check(ctx, candidate)


def _with_warnings_recorded(candidate: CandidateRecord, verdict: CheckVerdict) -> CheckVerdict:
    """The check's warnings are the code's: recorded on the candidate, never its outcome."""
    candidate.warnings = [finding.to_dict() for finding in verdict.warnings]
    return verdict


async def _check(ctx: CandidateContext, candidate: CandidateRecord) -> CheckVerdict:
    spec = ctx.config.task.check_spec(candidate.hyperparameters)
    verdict = await ctx.call(
        "check",
        lambda: ctx.services.check(
            candidate.code,
            spec,
            candidate_id=candidate.candidate_id,
            parameter_budget=ctx.config.parameter_budget,
        ),
    )
    return _with_warnings_recorded(candidate, verdict)


_NOT_REPAIRABLE = frozenset(
    {Outcome.SUCCESS, Outcome.DUPLICATE, Outcome.INFRA_ERROR, Outcome.CANCELLED}
)


async def _repair_loop(
    ctx: CandidateContext,
    candidate: CandidateRecord,
    proposal: Proposal | None,
    verdict: CheckVerdict,
) -> CheckVerdict:
    """Repair until the check passes: a layer size the error names is fixed here (no model
    call, no repair round), anything else is the model's to repair, within repair_attempts.
    A repair prompt refused as over the model's context ends the repairs: the verdict stands."""
    config = ctx.config
    while (
        not candidate.is_done
        and verdict.outcome not in _NOT_REPAIRABLE
        and candidate.generator == Generator.LLM
    ):
        attempt = _layer_size_fixed(ctx, candidate, verdict)
        if attempt is None:
            if candidate.repair_attempts >= config.repair_attempts:
                break
            candidate.repair_attempts += 1
            _record_attempt(candidate, verdict, candidate.repair_attempts - 1)
            try:
                attempt = await repair_answer(ctx, candidate, proposal, verdict)
            except PromptTooLong as refused:
                # No repair fits the model's context: the failure it was for stands.
                candidate.history.append(
                    {"attempt": candidate.repair_attempts, "prompt_too_long": str(refused)[:2000]}
                )
                break
            if attempt is None:
                continue  # no new code this round: the last verdict stands, the next may do better
        preferred = proposal.hyperparameters if proposal else {}
        await _accept_code(ctx, candidate, attempt, preferred)
        verdict = await _static_or_sandbox(ctx, candidate, attempt)
    return verdict


# At most this many layer sizes are fixed from errors per candidate: each fix may reveal the
# next layer's mismatch, but a model that needs more is the model's to repair.
MAX_LAYER_SIZE_FIXES = 3


def _layer_size_fixed(
    ctx: CandidateContext, candidate: CandidateRecord, verdict: CheckVerdict
) -> Attempt | None:
    """The candidate with the one layer the shape error names resized, recorded as a fix."""
    done = sum(1 for fix in candidate.fixes if fix.get("rule") == LAYER_SIZE_RULE)
    if not ctx.config.generation.fixes or done >= MAX_LAYER_SIZE_FIXES:
        return None
    fixed = fix_layer_size(candidate.code, verdict.error_message)
    if fixed is None:
        return None
    code, fix = fixed
    _record_attempt(candidate, verdict, candidate.repair_attempts, fixed=fix.detail)
    shaped = ShapedCode(
        code,
        (*candidate.fixes, fix.to_dict()),
        dict(candidate.generation.get("merge", {})),
    )
    return Attempt(code, shaped)


def _record_attempt(
    candidate: CandidateRecord, verdict: CheckVerdict, attempt: int, **extra: str
) -> None:
    """The code `attempt` had and how it failed, in the candidate's history."""
    candidate.history.append(
        {
            "attempt": attempt,
            "code_md5": candidate.code_md5,
            "structure_hash": candidate.structure_hash,
            "outcome": verdict.outcome.value,
            "stage": verdict.stage_name,
            "error": verdict.error_message[:2000],
            **extra,
        }
    )


async def _save_checked(ctx: CandidateContext, candidate: CandidateRecord, verdict: CheckVerdict):
    candidate.parameter_count = verdict.parameter_count
    candidate.flops = verdict.flops
    candidate.findings = [finding.to_dict() for finding in verdict.findings]
    candidate.unused_parameters = list(verdict.unused_parameters)
    if candidate.generator == Generator.LLM and candidate.parent:
        parent = await ctx.store.get_candidate(candidate.tenant_id, candidate.parent)
        # A zoo parent has no unused parameter (tests/integration/sandbox asserts it).
        parent_unused = parent.unused_parameters if parent is not None else []
        candidate.idea_applied = idea_applied(candidate.unused_parameters, parent_unused)
    if ctx.config.training.epochs == 0:
        await _finish(ctx, candidate, Outcome.SUCCESS, "learn", "", "")
        return
    candidate.status = CandidateStatus.CHECKED
    await ctx.store.put_candidate(candidate)


# How a training can fail that the model may repair: it diverged, or its code raised.
_REPAIRABLE_IN_TRAINING = frozenset(
    {Outcome.TRAINING_FAILURE, Outcome.RUNTIME_ERROR, Outcome.SHAPE_MISMATCH}
)


async def _train_and_repair(
    ctx: CandidateContext, candidate: CandidateRecord, proposal: Proposal | None
) -> None:
    """Train; an LLM candidate whose training diverged or raised is repaired with the error and
    its curve (within the same repair_attempts as the check), checked and trained again."""
    while True:
        result = await _train(ctx, candidate)
        if (
            result.outcome is Outcome.SUCCESS
            or result.outcome not in _REPAIRABLE_IN_TRAINING
            or candidate.generator != Generator.LLM
            or candidate.repair_attempts >= ctx.config.repair_attempts
        ):
            await _finish(
                ctx, candidate, result.outcome, "train", result.error_type, result.error_message
            )
            return
        verdict = await _repair_loop(ctx, candidate, proposal, _training_verdict(candidate, result))
        if verdict.outcome is not Outcome.SUCCESS:
            await _finish_failed(ctx, candidate, verdict)
            return
        await _save_checked(ctx, candidate, verdict)
        if candidate.status != CandidateStatus.CHECKED:
            return


def _training_verdict(candidate: CandidateRecord, result: TrainingResult) -> CheckVerdict:
    """A failed training as the repair prompt shows it: the error and the curve so far."""
    curve = "; ".join(
        f"epoch {e.epoch}: train loss {e.train_loss:.4g}, validation {e.validation_metric:.4g}"
        for e in candidate.epochs
    )
    message = result.error_message or result.outcome.value
    if curve:
        message += f"\nTraining curve: {curve}"
    return CheckVerdict(result.outcome, Stage.TRAIN, result.error_type, message)


async def _train(ctx: CandidateContext, candidate: CandidateRecord) -> TrainingResult:
    """One training of the candidate's code; its epochs and scores are recorded on it."""
    config = ctx.config
    training = config.training
    candidate.epochs = []  # a resumed job starts its training again

    async def record_epoch(epoch: EpochMetrics) -> None:
        candidate.epochs.append(epoch)
        await ctx.store.put_candidate(candidate)
        await ctx.on_epoch(candidate, epoch)

    request = TrainingRequest(
        code=candidate.code,
        spec=config.task.spec(candidate.hyperparameters),
        epochs=training.epochs,
        seed=config.seed + candidate.slot,
        candidate_id=candidate.candidate_id,
        train_samples=training.train_samples,
        validation_samples=training.validation_samples,
        test_samples=training.test_samples,
        epoch_time_budget_ms=training.epoch_time_budget_ms,
        job_time_budget_ms=training.job_time_budget_ms,
    )

    async def train_once():
        candidate.epochs = []
        return await ctx.services.train(request, record_epoch)

    result = await ctx.call("train", train_once)
    record_training(candidate, request, result)
    candidate.scores = dict(result.scores)
    score = validation_score(result.scores)  # never the test score: it is held out
    candidate.score = score if result.outcome is Outcome.SUCCESS else None
    return result


async def _finish_failed(ctx: CandidateContext, candidate: CandidateRecord, verdict: CheckVerdict):
    if candidate.is_done:
        return
    candidate.findings = [finding.to_dict() for finding in verdict.findings]
    candidate.parameter_count = verdict.parameter_count
    await _finish(
        ctx,
        candidate,
        verdict.outcome,
        verdict.stage_name,
        verdict.error_type,
        verdict.error_message,
    )


async def _finish(
    ctx: CandidateContext,
    candidate: CandidateRecord,
    outcome: Outcome,
    stage: str,
    error_type: str,
    error_message: str,
) -> None:
    candidate.outcome = outcome
    candidate.stage = stage
    candidate.error_type = error_type
    candidate.error_message = error_message[:4000]
    candidate.status = CandidateStatus.DONE
    candidate.finished_at = now()
    await ctx.store.put_candidate(candidate)
    await ctx.on_finished(candidate)


async def finish_as(
    ctx: CandidateContext,
    candidate: CandidateRecord,
    outcome: Outcome,
    error_type: str,
    message: str,
) -> None:
    """End a candidate from outside the pipeline (cancelled, or an error of ours)."""
    await _finish(ctx, candidate, outcome, candidate.stage, error_type, message)
