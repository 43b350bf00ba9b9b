"""Template-composer code in the real sandbox: random genomes and realised ideas pass the check."""

import random

from netapi.outcomes import Outcome
from netapi.tasks import IMG_CLASSIFICATION, TaskSpec, default_spec
from search_core.knowledge.tree import KnowledgeTree
from search_core.template.cost import cost
from search_core.template.operators import IdeaHasNoEffect, apply_idea, random_genome
from search_core.template.render import render

FASHION_MNIST = TaskSpec(IMG_CLASSIFICATION, "fashion-mnist", (2, 1, 28, 28), (10,))
IDEAS = ("Squeeze-and-Excitation", "Inverted residual with linear bottleneck", "Stochastic depth")


async def check(checker, genome, spec):
    result = await checker.check(render(genome), spec, tenant="t")
    assert result.outcome is Outcome.SUCCESS, (result.error_message, genome)
    assert result.output_shape == [spec.in_shape[0], spec.out_shape[0]]
    channels, side = spec.in_shape[1], spec.in_shape[2]
    assert result.parameter_count == cost(genome, channels, side, spec.out_shape[0]).parameters
    assert not result.unused_parameters
    return result


async def test_random_genomes_pass_the_sandbox(checker):
    rng = random.Random(2026)
    for index in range(6):
        spec = FASHION_MNIST if index % 2 else default_spec(IMG_CLASSIFICATION)
        await check(checker, random_genome(rng), spec)


def child_with_idea(name: str, rng: random.Random):
    """A random parent that lacks the idea, with the idea applied."""
    attribute = KnowledgeTree.default().find(name).attribute
    while True:
        try:
            return apply_idea(random_genome(rng), attribute, rng)
        except IdeaHasNoEffect:
            continue


async def test_genomes_with_applied_ideas_pass_the_sandbox(checker):
    rng = random.Random(7)
    for name in IDEAS:
        await check(checker, child_with_idea(name, rng), FASHION_MNIST)
