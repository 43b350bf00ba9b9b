"""KnowledgeTree: the shipped default, validation, round trips and merge with dedup."""

import copy

import pytest

from search_core.knowledge.tree import (
    Attribute,
    Category,
    KnowledgeTree,
    KnowledgeTreeError,
    dedup_key,
    normalise_name,
    same_idea,
)

FAIRNAD_CATEGORIES = {
    "feature_extraction_operators",
    "normalization",
    "activation",
    "input_encoding",
    "residual_multi_branch",
    "feature_fusion",
    "adaptive_recalibration",
    "network_level_scaling",
}


@pytest.fixture
def tree():
    return KnowledgeTree.default()


def small_tree():
    return KnowledgeTree(
        [
            Category(
                "adaptive_recalibration",
                "Attention",
                attributes=(
                    Attribute(
                        "Squeeze-and-Excitation",
                        "Gate channels.",
                        {"op": "set", "field": "attention", "value": "se"},
                    ),
                ),
            ),
            Category("activation", "Activation", attributes=(Attribute("GELU", "Use GELU."),)),
        ]
    )


def test_default_tree_has_the_fairnad_categories_and_enough_ideas(tree):
    names = [category.name for category in tree.categories]
    assert FAIRNAD_CATEGORIES <= set(names)
    assert {"pooling_downsampling", "regularization"} <= set(names)
    assert len(tree) >= 60
    assert all(len(category.attributes) >= 2 for category in tree.categories)


def test_default_tree_names_are_unique_even_under_fuzzy_matching(tree):
    ideas = [idea.attribute.name for idea in tree.attributes()]
    assert len({normalise_name(name) for name in ideas}) == len(ideas)
    clashes = [(a, b) for i, a in enumerate(ideas) for b in ideas[i + 1 :] if same_idea(a, b)]
    assert clashes == []


def test_default_tree_descriptions_are_actionable_sentences(tree):
    for _, attribute in tree.attributes():
        assert 20 <= len(attribute.description) <= 400, attribute.name
        sentences = attribute.description.count(". ") + 1
        assert sentences <= 3, attribute.name


def test_round_trip_through_dict(tree):
    again = KnowledgeTree.from_dict(copy.deepcopy(tree.to_dict()))
    assert again.to_dict() == tree.to_dict()
    assert again.name == "default"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("categories"), "tree.categories: must be a list"),
        (lambda d: d.update(version=2), "tree.version"),
        (lambda d: d.update(extra=1), "unknown keys ['extra']"),
        (lambda d: d["categories"][0].update(name="Not Snake"), "categories[0].name"),
        (lambda d: d["categories"][1]["attributes"][0].update(name="  "), "must not be empty"),
        (
            lambda d: d["categories"][1]["attributes"][0].update(description=7),
            "categories[1].attributes[0].description: must be a string",
        ),
        (
            lambda d: d["categories"][0]["attributes"][0].update(apply={"field": "x"}),
            "categories[0].attributes[0].apply",
        ),
        (lambda d: d["categories"][0]["attributes"][0].update(colour="red"), "unknown keys"),
        (lambda d: d["categories"].append(copy.deepcopy(d["categories"][0])), "appears twice"),
        (
            lambda d: d["categories"][1]["attributes"].append(
                {"name": "squeeze and excitation", "description": "again"}
            ),
            "duplicates 'Squeeze-and-Excitation'",
        ),
    ],
)
def test_validation_errors_name_the_bad_path(mutate, message):
    document = small_tree().to_dict()
    mutate(document)
    with pytest.raises(KnowledgeTreeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        KnowledgeTree.from_dict(document)


def test_names_fold_case_punctuation_spacing_filler_and_plurals():
    assert normalise_name("  Squeeze-and-Excitation ") == "squeeze and excitation"
    assert dedup_key("Squeeze-and-Excitation") == dedup_key("squeeze and excitation block")
    assert dedup_key("Depth-wise separable convolutions") == dedup_key(
        "depthwise separable convolution"
    )
    assert same_idea("Convolutional Block Attention Module", "convolution block attention module")
    assert not same_idea("Batch normalization", "Group normalization")
    assert not same_idea("ReLU", "ReLU6")


def test_merge_dedups_and_keeps_the_richer_description():
    tree = small_tree()
    other = KnowledgeTree(
        [
            Category(
                "adaptive_recalibration",
                "Attention",
                attributes=(
                    Attribute(
                        "squeeze and excitation",
                        "Average each channel, pass the vector through a bottleneck MLP with a "
                        "sigmoid, and rescale the channels.",
                    ),
                    Attribute("Coordinate attention", "Direction-aware attention maps."),
                ),
            ),
            Category("activation", "Activation", attributes=(Attribute("gelu", "GELU."),)),
            Category("novel_things", "Novel", attributes=(Attribute("Hypernetwork", "Weights."),)),
        ]
    )
    report = tree.merge(other)
    assert [(i.category.name, i.attribute.name) for i in report.added] == [
        ("adaptive_recalibration", "Coordinate attention"),
        ("novel_things", "Hypernetwork"),
    ]
    assert [i.attribute.name for i in report.enriched] == ["Squeeze-and-Excitation"]
    se = tree.find("SQUEEZE-AND-EXCITATION").attribute
    assert se.name == "Squeeze-and-Excitation"  # the existing name stays
    assert se.description.startswith("Average each channel")  # the richer description wins
    assert se.apply == {"op": "set", "field": "attention", "value": "se"}  # apply kept
    assert tree.find("GELU").attribute.description == "Use GELU."  # shorter one ignored
    assert len(tree) == 4
    assert tree.merge(other).added == []  # merging twice adds nothing


def test_merge_into_the_default_tree_recognises_known_ideas(tree):
    before = len(tree)
    report = tree.merge(
        KnowledgeTree(
            [
                Category(
                    "activation",
                    "Activation",
                    attributes=(Attribute("Swish (SiLU)", "x * sigmoid(x)."),),
                ),
                Category(
                    "adaptive_recalibration",
                    "Attention",
                    attributes=(Attribute("Squeeze and Excitation block", "SE."),),
                ),
            ]
        )
    )
    assert [i.attribute.name for i in report.added] == []
    assert len(tree) == before


def test_duplicate_categories_or_attributes_in_the_constructor_are_errors():
    with pytest.raises(KnowledgeTreeError, match="appears twice"):
        KnowledgeTree([Category("a", "A"), Category("a", "A")])
    with pytest.raises(KnowledgeTreeError, match="duplicates"):
        KnowledgeTree(
            [Category("a", "A", attributes=(Attribute("X y", "d"), Attribute("x-Y", "d")))]
        )
