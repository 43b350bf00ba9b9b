"""Search operators: random sampling, mutation, ideas from the tree, Pareto-aware moves."""

import random
from dataclasses import fields, replace

import pytest
import torch

from search_core.knowledge.tree import Attribute, KnowledgeTree
from search_core.template.cost import cost, within_budget
from search_core.template.genome import (
    CHOICES,
    HYPERPARAMETERS,
    MAX_DOWNSAMPLINGS,
    WIDTHS,
    Genome,
    Stage,
    canonical,
)
from search_core.template.operators import (
    IdeaHasNoEffect,
    IdeaNotRealisable,
    apply_idea,
    mutate,
    random_genome,
    realisable,
    realisations,
    scale_up,
    tune_hyperparameters,
)
from search_core.template.render import render
from tests.unit.search_core.template.conftest import PRM, load_net_class, static_findings

ARCHITECTURE = [f.name for f in fields(Genome) if f.name not in HYPERPARAMETERS]


def parents(count: int = 25, seed: int = 0) -> list[Genome]:
    rng = random.Random(seed)
    return [Genome(), *(random_genome(rng) for _ in range(count))]


def architecture(genome: Genome) -> tuple:
    return tuple(getattr(genome, name) for name in ARCHITECTURE)


def torch_parameters(genome: Genome) -> int:
    net = load_net_class(render(genome))((2, 3, 32, 32), (10,), dict(PRM), torch.device("cpu"))
    return sum(p.numel() for p in net.parameters())


def attribute(name: str) -> Attribute:
    return KnowledgeTree.default().find(name).attribute


def test_random_genome_is_seeded_and_covers_the_space():
    assert random_genome(random.Random(9)) == random_genome(random.Random(9))
    genomes = parents(300, seed=1)
    for name, values in CHOICES.items():
        assert {getattr(g, name) for g in genomes} == set(values), name
    assert {len(g.stages) for g in genomes} == {1, 2, 3, 4}
    assert all(g == canonical(g) and within_budget(g) for g in genomes)


def test_mutate_changes_the_architecture_and_the_code_only(policy):
    rng = random.Random(2)
    for parent in parents(100, seed=2):
        child = mutate(parent, rng)
        assert child != parent and render(child) != render(parent)
        assert child.hyperparameters == parent.hyperparameters
        assert within_budget(child)
        assert static_findings(render(child), policy) == []


def test_apply_idea_turns_squeeze_and_excitation_on():
    child = apply_idea(Genome(), attribute("Squeeze-and-Excitation"), random.Random(0))
    assert child.attention == "se" and replace(child, attention="none") == Genome()
    assert "class SqueezeExcite" in render(child)
    with pytest.raises(IdeaHasNoEffect, match="already has"):
        apply_idea(child, attribute("Squeeze-and-Excitation"), random.Random(0))


def test_every_attribute_with_an_apply_entry_is_realisable(policy):
    tree = KnowledgeTree.default()
    rng = random.Random(3)
    candidates = parents(25, seed=3)
    realised = 0
    for category, idea in tree.attributes():
        if "apply" not in idea.to_dict():
            with pytest.raises(IdeaNotRealisable, match="no apply entry"):
                apply_idea(Genome(), idea, rng)
            continue
        assert realisable(idea), idea.name
        children = []
        for parent in candidates:
            try:
                children.append((parent, apply_idea(parent, idea, rng)))
            except IdeaHasNoEffect:
                continue
        assert children, f"{category.name}/{idea.name} changed none of the parents"
        for parent, child in children[:3]:
            assert child != parent and within_budget(child)
            assert static_findings(render(child), policy) == []
        realised += 1
    assert realised >= 40


def test_realisations_holds_the_child_of_each_idea_that_changes_the_parent():
    plain = Genome(stages=(Stage("plain", 1, 32, 1), Stage("plain", 1, 64, 2)))
    squeezed = apply_idea(plain, attribute("Squeeze-and-Excitation"), random.Random(0))
    ideas = [attribute("Squeeze-and-Excitation"), attribute("Residual connection")]
    ideas.append(Attribute("Hypernetwork", "no apply entry: the LLM's only"))
    children = realisations(squeezed, ideas, random.Random(1))
    assert set(children) == {"Residual connection"}  # the parent already has SE
    assert children["Residual connection"].attention == "se"
    assert {s.block for s in children["Residual connection"].stages} == {"basic"}


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("Residual connection", lambda g: g.stages[0].block == "basic"),
        ("Depthwise separable convolution", lambda g: "separable" in {s.block for s in g.stages}),
        ("Large-kernel depthwise convolution", lambda g: 7 in {s.kernel for s in g.stages}),
        ("Group normalization", lambda g: g.norm == "group"),
        ("Mish", lambda g: g.activation == "mish"),
        ("Patchify stem", lambda g: g.stem == "patchify" and g.downsamplings <= MAX_DOWNSAMPLINGS),
        ("Early downsampling", lambda g: g.stages[0].stride == 2 and g.downsamplings == 2),
        ("Stochastic depth", lambda g: g.drop_path == 0.1 and g.stages[0].block == "basic"),
        ("LayerScale", lambda g: g.branch_scale == "layerscale"),
        ("Depth scaling", lambda g: [s.depth for s in g.stages] == [2, 2]),
        ("Width scaling", lambda g: [s.width for s in g.stages] == [48, 96]),
        ("Label smoothing", lambda g: g.label_smoothing == 0.1),
        ("Dropout before the classifier", lambda g: g.dropout == 0.4),
    ],
)
def test_apply_idea_realises_named_ideas(name, check):
    parent = Genome(stages=(Stage("plain", 1, 32, 1), Stage("plain", 1, 64, 2)))
    child = apply_idea(parent, attribute(name), random.Random(0))
    assert check(child), child


def test_unreadable_apply_entries_are_not_realisable():
    for apply in (
        None,
        [],
        {"op": "teleport"},
        {"op": "set", "field": "optimizer", "value": "adam"},
        {"op": "set", "field": "attention", "value": "transformer"},
        {"op": "set", "field": "lr", "value": 3},
        {"op": "set_stage", "field": "width", "value": 64},
        {"op": "scale", "height": 2},
        ["not an op"],
    ):
        idea = Attribute("x", "y", apply)
        assert not realisable(idea)
        with pytest.raises(IdeaNotRealisable):
            apply_idea(Genome(), idea, random.Random(0))


def test_scale_up_adds_parameters_within_the_budget():
    rng = random.Random(4)
    grown = 0
    for parent in parents(40, seed=4):
        child = scale_up(parent, rng)
        if child == parent:  # already at the budget
            continue
        grown += 1
        assert cost(child).parameters > cost(parent).parameters and within_budget(child)
        assert child.hyperparameters == parent.hyperparameters
    assert grown >= 30
    parent = Genome()
    child = scale_up(parent, random.Random(5))
    assert torch_parameters(child) > torch_parameters(parent)


def test_scale_up_leaves_a_model_at_the_limits_alone():
    widest = Genome(stages=tuple(Stage("separable", 4, WIDTHS[-1], s) for s in (2, 2, 2, 1)))
    assert within_budget(widest)
    assert scale_up(widest, random.Random(0)) == widest


def test_tune_hyperparameters_changes_only_hyperparameters():
    rng = random.Random(6)
    for parent in parents(50, seed=6):
        child = tune_hyperparameters(parent, rng)
        assert architecture(child) == architecture(parent)
        assert child.hyperparameters != parent.hyperparameters
        assert all(0 <= v <= 1 for v in child.hyperparameters.values())
        assert render(child) == render(parent)  # values reach the code through prm
