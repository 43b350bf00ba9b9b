"""NN-Caption trains its baselines in the campaign: the first slots, unchanged, same budget."""

import pytest

from search_core.domain import CandidateRecord, Generator
from search_core.engine.proposals import slot_rng
from search_core.methods import MethodFactory
from search_core.methods.nn_caption import BASELINE_MUTATION, is_campaign_baseline
from search_core.search_config import SearchConfigError, parse_config
from search_core.store import open_store
from search_core.store.async_store import AsyncStore
from search_core.zoo import builtin_models, seed_zoo

CAPTIONING = {
    "task": "img-captioning",
    "dataset": "fashion-captions",
    "in_shape": [32, 3, 56, 56],
    "out_shape": [55],
}
BASELINES = ["ResNetGRU", "ResNetLSTM", "ResNetTransformer"]


@pytest.fixture
async def factory(tmp_path):
    store = open_store(str(tmp_path / "store.db"))
    seed_zoo(store)
    async with AsyncStore(store) as async_store:
        yield MethodFactory(async_store)


def _config(max_candidates=8, **nn_caption):
    return parse_config(
        {
            "method": "nn_caption",
            "generator": "llm",
            "task": CAPTIONING,
            "max_candidates": max_candidates,
            "nn_caption": nn_caption,
        }
    )


async def _proposals(factory, config, slots):
    method = await factory(config, "acme")
    return [method.propose(slot, slot_rng(config, slot), []) for slot in range(slots)]


async def test_the_first_slots_train_each_baseline_unchanged(factory):
    proposals = await _proposals(factory, _config(), 3)
    code = {m.name: m.code for m in builtin_models()}
    assert [p.prefix for p in proposals] == BASELINES
    for proposal in proposals:
        assert proposal.generator == Generator.TEMPLATE
        assert proposal.mutation == BASELINE_MUTATION
        assert proposal.code == code[proposal.prefix]
        assert proposal.prompt is None and not proposal.parent_code


async def test_llm_candidates_follow_and_alternate_k_from_their_own_count(factory):
    proposals = (await _proposals(factory, _config(alternate_k=True), 7))[3:]
    assert all(p.generator == Generator.LLM and p.mutation == "compose" for p in proposals)
    assert [p.prefix.split("-")[0] for p in proposals] == ["C5C", "C10C", "C5C", "C10C"]
    assert [p.parent for p in proposals[:3]] == BASELINES


async def test_one_configured_baseline_trains_only_that_one(factory):
    proposals = await _proposals(factory, _config(baseline="ResNetLSTM"), 3)
    assert [p.generator for p in proposals] == [Generator.TEMPLATE, Generator.LLM, Generator.LLM]
    assert proposals[0].prefix == "ResNetLSTM"


async def test_the_switch_turns_the_baseline_slots_off(factory):
    proposals = await _proposals(factory, _config(train_baselines=False), 3)
    assert all(p.generator == Generator.LLM for p in proposals)


async def test_a_budget_the_baselines_use_up_is_a_configuration_error(factory):
    with pytest.raises(SearchConfigError, match="max_candidates"):
        await factory(_config(max_candidates=3), "acme")
    await factory(_config(max_candidates=3, train_baselines=False), "acme")


def test_a_trained_baseline_is_told_from_a_generated_model():
    def record(generator, mutation):
        return CandidateRecord("c", "s", "t", 0, generator=generator, mutation=mutation)

    assert is_campaign_baseline(record(Generator.TEMPLATE, BASELINE_MUTATION))
    assert not is_campaign_baseline(record(Generator.LLM, "compose"))
    assert not is_campaign_baseline(record(Generator.LLM, BASELINE_MUTATION))
