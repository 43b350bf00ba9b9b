"""The design_knowledge_extract answer as a tree fragment: parsing, errors, merge."""

import json
import pathlib
import tomllib

import pytest

from search_core.knowledge.extraction import (
    EXTRACTION_CATEGORIES,
    ExtractionError,
    merge_answer,
    tree_fragment_from_answer,
)
from search_core.knowledge.tree import KnowledgeTree

TEMPLATE = (
    pathlib.Path(__file__).resolve().parents[4]
    / "llm_gateway/prompts/templates/design_knowledge_extract.v1.toml"
)


def answer(**ideas):
    data = {key: [] for key in EXTRACTION_CATEGORIES}
    data.update(ideas)
    return data


def test_the_categories_are_the_prompt_schemas():
    schema = json.loads(tomllib.loads(TEMPLATE.read_text())["json_schema"])
    assert list(EXTRACTION_CATEGORIES) == schema["required"]
    default = {c.name for c in KnowledgeTree.default().categories}
    assert set(EXTRACTION_CATEGORIES) <= default


def test_a_good_answer_becomes_a_fragment_with_its_source():
    text = json.dumps(
        answer(
            activation=[{"attribute": "Serf", "description": "Use x * erf(softplus(x))."}],
            feature_fusion=[
                {"attribute": "Attentional feature fusion", "description": "Fuse with  attention."},
                {"attribute": "attentional-feature fusion", "description": "Duplicate."},
            ],
        )
    )
    fragment = tree_fragment_from_answer(text, source="Paper X")
    assert [c.name for c in fragment.categories] == list(EXTRACTION_CATEGORIES)
    ideas = [(c.name, a.name, a.description, a.source) for c, a in fragment.attributes()]
    assert ideas == [
        ("activation", "Serf", "Use x * erf(softplus(x)).", "Paper X"),
        ("feature_fusion", "Attentional feature fusion", "Fuse with attention.", "Paper X"),
    ]
    assert all(a.apply is None for _, a in fragment.attributes())


def test_merge_answer_adds_new_ideas_and_folds_known_ones():
    tree = KnowledgeTree.default()
    before = len(tree)
    report = merge_answer(
        tree,
        answer(
            adaptive_recalibration=[
                {"attribute": "squeeze and excitation", "description": "SE."},
                {"attribute": "Split attention", "description": "ResNeSt split attention."},
            ]
        ),
    )
    assert [i.attribute.name for i in report.added] == ["Split attention"]
    assert len(tree) == before + 1
    se = tree.find("Squeeze-and-Excitation").attribute
    assert se.apply == {"op": "set", "field": "attention", "value": "se"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("not json {", "not JSON"),
        ([], "must be a JSON object"),
        ({"activation": []}, "lacks the categories feature_extraction_operators"),
        (answer(optimizers=[]), "not categories: optimizers"),
        (answer(activation={"attribute": "x"}), "activation: must be a list"),
        (answer(activation=["GELU"]), r"activation\[0\]: an idea must be an object"),
        (answer(activation=[{"attribute": " ", "description": "d"}]), r"\[0\].attribute"),
        (answer(activation=[{"attribute": "x"}]), r"activation\[0\].description"),
        (answer(activation=[{"attribute": "x" * 121, "description": "d"}]), "longer than 120"),
    ],
)
def test_malformed_answers_say_what_is_wrong(bad, message):
    with pytest.raises(ExtractionError, match=message):
        tree_fragment_from_answer(bad)
