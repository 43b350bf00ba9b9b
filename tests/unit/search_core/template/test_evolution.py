"""Regularized evolution: warm-up, tournament, aging, and rebuilding from history."""

import random

import pytest

from search_core.template.evolution import RegularizedEvolution, Result
from search_core.template.genome import Genome
from search_core.template.operators import random_genome


def results(count: int, seed: int = 0) -> list[Result]:
    rng = random.Random(seed)
    return [
        Result(random_genome(rng), None if i % 7 == 3 else rng.random(), f"c{i}")
        for i in range(count)
    ]


def test_the_population_fills_with_random_genomes_first():
    evolution = RegularizedEvolution(population_size=4, sample_size=2)
    for index, result in enumerate(results(4)):
        proposal = evolution.propose(random.Random(index))
        assert proposal.parent_id is None
        assert proposal.genome == random_genome(random.Random(index))
        evolution.record(result.genome, result.score, result.result_id)
    proposal = evolution.propose(random.Random(9))
    assert proposal.parent_id in {"c0", "c1", "c2", "c3"}
    parent = next(r for r in evolution.population if r.result_id == proposal.parent_id)
    assert proposal.genome != parent.genome


def test_aging_removes_the_oldest_member():
    evolution = RegularizedEvolution(population_size=3, sample_size=2)
    for result in results(5):
        evolution.record(result.genome, result.score, result.result_id)
    assert [r.result_id for r in evolution.population] == ["c2", "c3", "c4"]
    assert evolution.recorded == 5


def test_the_tournament_picks_the_fittest_of_its_sample():
    evolution = RegularizedEvolution(population_size=5, sample_size=5)
    scores = [0.3, None, 0.9, 0.5, 0.1]
    for index, score in enumerate(scores):
        evolution.record(Genome(lr=0.01 * (index + 1)), score, f"c{index}")
    for seed in range(10):
        assert evolution.propose(random.Random(seed)).parent_id == "c2"
    failed = RegularizedEvolution(population_size=2, sample_size=2)
    failed.record(Genome(), None, "bad")
    failed.record(Genome(lr=0.02), 0.0, "good")
    assert failed.propose(random.Random(0)).parent_id == "good"  # a failure has no fitness


def test_rebuilt_from_history_equals_incremental():
    history = results(30, seed=5)
    incremental = RegularizedEvolution(population_size=8, sample_size=3)
    proposals = []
    for slot, result in enumerate(history):
        incremental.record(result.genome, result.score, result.result_id)
        proposals.append(incremental.propose(random.Random(slot)))
    for cut in (0, 5, 8, 17, 30):
        rebuilt = RegularizedEvolution.from_history(history[:cut], population_size=8, sample_size=3)
        partial = RegularizedEvolution(population_size=8, sample_size=3)
        for result in history[:cut]:
            partial.record(result.genome, result.score, result.result_id)
        assert rebuilt.population == partial.population
        if cut:
            assert rebuilt.propose(random.Random(cut - 1)) == proposals[cut - 1]


@pytest.mark.parametrize(("population", "sample"), [(0, 1), (5, 0), (5, 6)])
def test_bad_sizes_are_refused(population, sample):
    with pytest.raises(ValueError):
        RegularizedEvolution(population_size=population, sample_size=sample)
