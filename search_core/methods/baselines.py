"""The baselines in FairNAD's space: random sampling and regularized evolution (template code)."""

import random

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord
from search_core.engine.proposals import Proposal
from search_core.methods.template_proposals import template_proposal
from search_core.search_config import SearchConfig
from search_core.template.evolution import RegularizedEvolution
from search_core.template.genome import genome_from_dict
from search_core.template.operators import random_genome


class RandomSearch:
    """Every slot an independent random genome: the floor any search must beat."""

    def __init__(self, config: SearchConfig) -> None:
        self._config = config

    def propose(self, slot: int, rng: random.Random, history: list[CandidateRecord]) -> Proposal:
        return template_proposal(self._config, random_genome(rng), mutation="random")


class RegularizedEvolutionSearch:
    """Real et al. (2019): tournament selection from an aging population, one mutation each."""

    def __init__(self, config: SearchConfig) -> None:
        self._config = config

    def propose(self, slot: int, rng: random.Random, history: list[CandidateRecord]) -> Proposal:
        evolution = RegularizedEvolution(
            population_size=self._config.evolution.population_size,
            sample_size=self._config.evolution.sample_size,
        )
        for candidate in history:
            if candidate.genome is None:
                continue
            score = candidate.score if candidate.outcome is Outcome.SUCCESS else None
            evolution.record(genome_from_dict(candidate.genome), score, candidate.candidate_id)
        genome, parent_id = evolution.propose(rng)
        parent = next((c for c in history if c.candidate_id == parent_id), None)
        return template_proposal(
            self._config,
            genome,
            mutation="random" if parent is None else "mutate",
            parent=parent,
        )
