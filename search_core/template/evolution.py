"""Regularized evolution (Real et al. 2019): a population, tournament samples and aging.

The state is a function of the results recorded so far, in order, so a resumed search
rebuilds it with `from_history` (the store's finished candidates, oldest first). Proposals
draw only from the random.Random passed in, so an engine that seeds one per slot gets the
same proposal for a slot before and after a restart.
"""

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from search_core.template.genome import Genome
from search_core.template.operators import mutate, random_genome


@dataclass(frozen=True)
class Result:
    """A finished candidate: its genome and score (None when it failed: the lowest fitness)."""

    genome: Genome
    score: float | None
    result_id: str = ""

    @property
    def fitness(self) -> float:
        return float("-inf") if self.score is None else self.score


class EvolutionProposal(NamedTuple):
    """The next genome, and the id of the member it mutates (None: a random genome)."""

    genome: Genome
    parent_id: str | None


class RegularizedEvolution:
    """Aging evolution: until `population_size` results are in, propose random genomes; then
    sample `sample_size` members, mutate the fittest; each new result retires the oldest.
    """

    def __init__(self, population_size: int = 20, sample_size: int = 5) -> None:
        if population_size < 1 or not 1 <= sample_size <= population_size:
            raise ValueError("need population_size >= 1 and 1 <= sample_size <= population_size")
        self.population_size = population_size
        self.sample_size = sample_size
        self.recorded = 0
        self._population: deque[Result] = deque(maxlen=population_size)

    @classmethod
    def from_history(
        cls, results: Iterable[Result], population_size: int = 20, sample_size: int = 5
    ) -> "RegularizedEvolution":
        """The state after recording `results` in order."""
        evolution = cls(population_size, sample_size)
        for result in results:
            evolution.record(result.genome, result.score, result.result_id)
        return evolution

    @property
    def population(self) -> tuple[Result, ...]:
        """The living members, oldest first."""
        return tuple(self._population)

    def record(self, genome: Genome, score: float | None, result_id: str = "") -> None:
        """Add a finished result; the oldest member dies when the population is full."""
        self._population.append(Result(genome, score, result_id))  # the deque drops the oldest
        self.recorded += 1

    def propose(self, rng: random.Random) -> EvolutionProposal:
        """A random genome while the population fills, else a mutation of a tournament winner."""
        if self.recorded < self.population_size:
            return EvolutionProposal(random_genome(rng), None)
        sample = rng.sample(list(self._population), self.sample_size)
        parent = max(sample, key=lambda result: result.fitness)  # ties: the first sampled
        return EvolutionProposal(mutate(parent.genome, rng), parent.result_id)
