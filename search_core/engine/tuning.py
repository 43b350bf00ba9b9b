"""Hyperparameter tuning by the LLM (FairNAD's Pareto-aware mutation of a large model): the
model answers new values as JSON and the candidate is its parent's code with those values."""

from dataclasses import replace

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord
from search_core.engine.answers import Attempt, _count_usage
from search_core.engine.context import CandidateContext
from search_core.engine.feedback import TuningAnswerError, tuned_code
from search_core.engine.proposals import Proposal
from search_core.generation.provenance import generation_record, record_generation
from search_core.services import Generation, SamplingSettings


async def tuned_answer(
    ctx: CandidateContext, candidate: CandidateRecord, proposal: Proposal
) -> tuple[Attempt | None, Generation]:
    """The parent's code with the values the model answered, or (None, the answer with the
    outcome and message that end the candidate) when it sets no hyperparameter.

    One answer, not retried: an answer equal to the parent's values is the parent's code,
    which the duplicate check ends.
    """
    config = ctx.config
    requested = SamplingSettings(
        config.max_new_tokens, config.temperature, None, config.seed + candidate.slot
    )
    answer = await ctx.call(
        "generate",
        lambda: ctx.services.generate(
            proposal.tuning_prompt,
            config.task.check_spec(),
            model=config.model or ctx.default_model,
            max_new_tokens=requested.max_new_tokens,
            temperature=requested.temperature,
            seed=requested.seed,
        ),
    )
    candidate.model = answer.model
    _count_usage(candidate, answer)
    # Its hyperparameters are the model's answer: recorded as an LLM candidate's code is.
    record_generation(candidate, generation_record(proposal.tuning_prompt, answer, requested))
    if answer.outcome is not Outcome.SUCCESS:
        return None, answer
    try:
        return Attempt(tuned_code(proposal.parent_code, answer.code)), answer
    except TuningAnswerError as error:
        return None, replace(answer, outcome=error.outcome, error_message=str(error))
