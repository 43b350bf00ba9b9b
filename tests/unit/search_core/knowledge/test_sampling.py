"""Fair idea sampling: categories uniform, attributes uniform within a category (chi-square)."""

import random
from collections import Counter

import pytest
from scipy.stats import chi2

from search_core.knowledge.sampling import EmptyTreeError, FairIdeaSampler
from search_core.knowledge.tree import Attribute, Category, KnowledgeTree

DRAWS = 20_000
P_FAIL = 0.001  # a fair sampler fails one such test with this probability


def chi_square_uniform(counts: Counter, categories: list) -> tuple[float, int]:
    """Chi-square statistic against uniform over `categories`, and its degrees of freedom."""
    total = sum(counts[c] for c in categories)
    expected = total / len(categories)
    statistic = sum((counts[c] - expected) ** 2 / expected for c in categories)
    return statistic, len(categories) - 1


def looks_uniform(counts: Counter, categories: list) -> bool:
    statistic, df = chi_square_uniform(counts, categories)
    return statistic < chi2.isf(P_FAIL, df)


def fair_draws(tree, seed=7):
    sampler = FairIdeaSampler(tree, random.Random(seed))
    return [sampler.sample() for _ in range(DRAWS)]


def naive_draws(tree, seed=7):
    """What FairNAD avoids: every attribute of the tree equally likely."""
    rng = random.Random(seed)
    ideas = tree.attributes()
    return [rng.choice(ideas) for _ in range(DRAWS)]


def test_categories_are_uniform():
    tree = KnowledgeTree.default()
    names = [c.name for c in tree.categories]
    assert len(set(len(c.attributes) for c in tree.categories)) > 1  # sizes differ
    counts = Counter(category.name for category, _ in fair_draws(tree))
    assert looks_uniform(counts, names), chi_square_uniform(counts, names)


def test_attributes_are_uniform_within_each_category():
    tree = KnowledgeTree.default()
    draws = fair_draws(tree)
    for category in tree.categories:
        counts = Counter(a.name for c, a in draws if c.name == category.name)
        names = [a.name for a in category.attributes]
        assert looks_uniform(counts, names), (category.name, chi_square_uniform(counts, names))


def test_a_naive_attribute_uniform_sampler_fails_the_category_test():
    tree = KnowledgeTree.default()
    names = [c.name for c in tree.categories]
    counts = Counter(idea.category.name for idea in naive_draws(tree))
    assert not looks_uniform(counts, names)


def test_a_lopsided_tree_is_still_fair_between_categories():
    crowded = tuple(Attribute(f"idea {i}", "d") for i in range(20))
    tree = KnowledgeTree(
        [
            Category("crowded", "C", attributes=crowded),
            Category("sparse", "S", attributes=(Attribute("a", "d"), Attribute("b", "d"))),
            Category("empty", "E"),
        ]
    )
    counts = Counter(category.name for category, _ in fair_draws(tree))
    assert set(counts) == {"crowded", "sparse"}  # empty categories are never drawn
    assert looks_uniform(counts, ["crowded", "sparse"])
    naive = Counter(idea.category.name for idea in naive_draws(tree))
    assert naive["crowded"] > 8 * naive["sparse"]


def test_same_seed_same_ideas():
    tree = KnowledgeTree.default()
    assert fair_draws(tree, seed=3)[:50] == fair_draws(tree, seed=3)[:50]


def test_an_empty_tree_cannot_be_sampled():
    with pytest.raises(EmptyTreeError):
        FairIdeaSampler(KnowledgeTree([Category("empty", "E")]), random.Random(0))
