"""Proposals whose code the template composer writes from a genome (no LLM)."""

from search_core.domain import CandidateRecord, Generator, Method
from search_core.engine.feedback import with_hyperparameters_literal
from search_core.engine.proposals import Proposal
from search_core.search_config import SearchConfig
from search_core.template.genome import Genome, genome_to_dict
from search_core.template.render import render

# Name prefixes: `<method>-Template-<md5>` for code the composer wrote.
METHOD_PREFIX = {
    Method.FAIRNAD: "FairNAD",
    Method.RANDOM: "Random",
    Method.REGULARIZED_EVOLUTION: "RegEvo",
    Method.NN_CAPTION: "NNCaption",
    Method.REFERENCE: "Reference",
}


def template_proposal(
    config: SearchConfig,
    genome: Genome,
    *,
    mutation: str,
    parent: CandidateRecord | None = None,
    idea: dict[str, str] | None = None,
) -> Proposal:
    """A template candidate: the rendered genome, its hyperparameters written into the code."""
    values = dict(genome.hyperparameters)
    code = with_hyperparameters_literal(render(genome), values)
    return Proposal(
        prefix=f"{METHOD_PREFIX[config.method]}-Template",
        generator=Generator.TEMPLATE,
        code=code,
        parent=parent.candidate_id if parent else "",
        parent_code=parent.code if parent else "",
        mutation=mutation,
        idea=dict(idea or {}),
        hyperparameters=values,
        genome=genome_to_dict(genome),
    )
