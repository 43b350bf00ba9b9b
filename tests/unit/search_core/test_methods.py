"""Search methods propose what their papers describe, deterministically per slot."""

import random

import pytest

from netapi.outcomes import Outcome
from netapi.static_check import check_source
from search_core.domain import CandidateRecord, Generator
from search_core.engine.proposals import slot_rng
from search_core.methods import MethodFactory
from search_core.search_config import parse_config
from search_core.store import open_store
from search_core.store.async_store import AsyncStore
from search_core.zoo import seed_zoo

CLASSIFICATION = {
    "task": "img-classification",
    "dataset": "fashion-mnist",
    "in_shape": [64, 1, 28, 28],
    "out_shape": [10],
}
CAPTIONING = {
    "task": "img-captioning",
    "dataset": "fashion-captions",
    "in_shape": [32, 3, 56, 56],
    "out_shape": [55],
}


@pytest.fixture
async def factory(tmp_path):
    store = open_store(str(tmp_path / "store.db"))
    seed_zoo(store)
    async with AsyncStore(store) as async_store:
        yield MethodFactory(async_store)


def _finished(proposal, slot, score, params):
    return CandidateRecord(
        candidate_id=f"c{slot}",
        search_id="s",
        tenant_id="t",
        slot=slot,
        outcome=Outcome.SUCCESS,
        score=score,
        parameter_count=params,
        code=proposal.code,
        genome=proposal.genome,
        hyperparameters=dict(proposal.hyperparameters),
        generator=proposal.generator,
        idea=proposal.idea,
        mutation=proposal.mutation,
    )


def _run(method, config, slots, score=lambda slot: 0.5 + slot / 100):
    history, proposals = [], []
    for slot in range(slots):
        proposal = method.propose(slot, slot_rng(config, slot), history)
        proposals.append(proposal)
        history.append(_finished(proposal, slot, score(slot), 10_000 * (slot + 1)))
    return proposals


async def test_nn_caption_prompts_a_baseline_with_k_snippets_never_its_own_encoder(factory):
    config = parse_config(
        {
            "method": "nn_caption",
            "generator": "llm",
            "task": CAPTIONING,
            "nn_caption": {"alternate_k": True, "train_baselines": False},
        }
    )
    method = await factory(config, "acme")
    proposals = _run(method, config, 6)
    for slot, proposal in enumerate(proposals):
        k = 5 if slot % 2 == 0 else 10
        assert proposal.prefix.startswith(f"C{k}C-ResNet")
        assert (
            len(proposal.snippets)
            == k
            == len(proposal.prompt.list_variables["classification_snippets"])
        )
        assert "ResNet" not in proposal.snippets  # the baselines' encoder family
        assert proposal.prompt.template == "nn_caption_generate_edit" and proposal.edit
        assert proposal.parent_code in proposal.examples
    assert {p.parent for p in proposals} == {"ResNetGRU", "ResNetLSTM", "ResNetTransformer"}


async def test_proposals_are_the_same_for_the_same_slot_and_history(factory):
    config = parse_config(
        {
            "method": "fairnad",
            "generator": "template",
            "task": CLASSIFICATION,
            "fairnad": {"population_size": 2},
        }
    )
    first = _run(await factory(config, "acme"), config, 8)
    again = _run(await factory(config, "acme"), config, 8)
    assert [p.code for p in first] == [p.code for p in again]


async def test_fairnad_template_uses_seeds_then_ideas_and_pareto_mutations(factory):
    config = parse_config(
        {
            "method": "fairnad",
            "generator": "template",
            "task": CLASSIFICATION,
            "fairnad": {"population_size": 3, "pareto_every": 3},
        }
    )
    proposals = _run(await factory(config, "acme"), config, 15)
    mutations = [p.mutation for p in proposals]
    assert mutations[:3] == ["seed"] * 3
    assert {"fair_idea"} <= set(mutations[3:])
    assert {"scale_up", "tune_hyperparameters"} & set(mutations[3:])
    ideas = [p.idea for p in proposals if p.mutation == "fair_idea"]
    assert ideas and all(i["category"] and i["attribute"] for i in ideas)
    for proposal in proposals:
        assert proposal.generator == Generator.TEMPLATE and proposal.parent != "c-none"
        assert check_source(proposal.code, "img-classification").outcome is Outcome.SUCCESS
        assert proposal.prefix == "FairNAD-Template"


async def test_fairnad_llm_prompts_ideas_refinements_and_scale_ups(factory):
    config = parse_config(
        {
            "method": "fairnad",
            "generator": "llm",
            "task": CLASSIFICATION,
            "fairnad": {
                "population_size": 2,
                "pareto_every": 4,
                "refine_every": 5,
                "seed_models": ["VGG"],
            },
        }
    )
    proposals = _run(await factory(config, "acme"), config, 12)
    templates = {p.prompt.template for p in proposals if p.prompt is not None}
    assert {"fairnad_apply_idea_edit", "fairnad_refine_edit"} <= templates
    assert proposals[0].parent == "VGG" and proposals[0].prompt.variables["num_classes"] == "10"
    refine = next(p for p in proposals if p.mutation == "refine")
    assert "Outcomes of the last" in refine.prompt.variables["feedback"]
    asked = [p for p in proposals if p.generator == Generator.LLM]
    assert {p.mutation for p in asked} >= {"fair_idea", "refine"}
    assert all(p.edit for p in asked)  # edit mode: answers merged into their parent
    assert all("memory" in p.prompt.variables for p in asked)
    assert all(p.prompt.template.endswith("_edit") for p in asked)


async def test_fairnad_in_whole_mode_asks_for_the_whole_module_without_memory(factory):
    config = parse_config(
        {
            "method": "fairnad",
            "generator": "llm",
            "task": CLASSIFICATION,
            "fairnad": {"population_size": 2, "seed_models": ["VGG"]},
            "generation": {"mode": "whole"},
        }
    )
    proposals = _run(await factory(config, "acme"), config, 2)
    assert {p.prompt.template for p in proposals} == {"fairnad_apply_idea"}
    assert not any(p.edit or "memory" in p.prompt.variables for p in proposals)


async def test_random_and_evolution_baselines_write_template_code(factory):
    for method_name in ("random", "regularized_evolution"):
        config = parse_config(
            {
                "method": method_name,
                "task": CLASSIFICATION,
                "evolution": {"population_size": 4, "sample_size": 2},
            }
        )
        proposals = _run(await factory(config, "acme"), config, 10)
        if method_name == "random":
            assert len({p.code for p in proposals}) == 10
        else:
            assert all(p.code != p.parent_code for p in proposals)
            assert [p.mutation for p in proposals][4:] == ["mutate"] * 6
            assert all(p.parent for p in proposals[4:])


async def test_a_missing_baseline_or_tree_is_a_clear_error(factory):
    config = parse_config(
        {
            "method": "nn_caption",
            "generator": "llm",
            "task": CAPTIONING,
            "nn_caption": {"baseline": "NoSuchNet"},
        }
    )
    with pytest.raises(LookupError, match="NoSuchNet"):
        await factory(config, "acme")
    config = parse_config(
        {"method": "fairnad", "task": CLASSIFICATION, "fairnad": {"knowledge_tree": "missing"}}
    )
    with pytest.raises(LookupError, match="missing"):
        await factory(config, "acme")
    assert random.Random(1).random() == random.Random(1).random()


async def test_the_reference_trains_the_zoos_own_models_unchanged(factory):
    config = parse_config(
        {
            "method": "reference",
            "task": CLASSIFICATION,
            "max_candidates": 2,
            "reference": {"models": ["ResNet", "MobileNetV2"]},
        }
    )
    proposals = _run(await factory(config, "acme"), config, 2)
    assert [p.parent for p in proposals] == ["MobileNetV2", "ResNet"]  # name order
    assert all(p.generator is Generator.TEMPLATE and p.mutation == "reference" for p in proposals)
    assert [p.prefix for p in proposals] == ["Reference-MobileNetV2", "Reference-ResNet"]
    assert "class Net" in proposals[0].code


async def test_a_reference_asked_for_more_than_the_zoo_holds_is_a_clear_error(factory):
    unknown = parse_config(
        {"method": "reference", "task": CLASSIFICATION, "reference": {"models": ["NoSuchNet"]}}
    )
    with pytest.raises(LookupError, match="NoSuchNet"):
        await factory(unknown, "acme")
    too_many = parse_config(
        {
            "method": "reference",
            "task": CLASSIFICATION,
            "max_candidates": 3,
            "reference": {"models": ["ResNet"]},
        }
    )
    with pytest.raises(LookupError, match="each is trained once"):
        await factory(too_many, "acme")
