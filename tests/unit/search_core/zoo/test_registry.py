"""The built-in registry, seeding a real store, and the snippet sampler of NN-Caption prompts."""

import random

import pytest

from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION
from search_core.domain import ZooModel
from search_core.identity import normalised_md5
from search_core.store import open_store
from search_core.zoo import builtin_models, sample_snippets, seed_zoo


@pytest.fixture
def store(tmp_path):
    instance = open_store(str(tmp_path / "nasforge.db"))
    yield instance
    instance.close()


def test_builtin_models_carry_task_family_and_code_hash():
    models = builtin_models()
    assert [m.name for m in models] == sorted(m.name for m in models)
    for model in models:
        assert model.source == "nasforge" and model.family == model.name
        assert model.code_md5 == normalised_md5(model.code) and "class Net" in model.code
    assert {m.name for m in builtin_models(IMG_CAPTIONING)} == {
        "ResNetLSTM",
        "ResNetGRU",
        "ResNetTransformer",
    }
    assert all(m.task == IMG_CLASSIFICATION for m in builtin_models(IMG_CLASSIFICATION))


def test_seed_zoo_puts_every_builtin_model_and_keeps_other_sources(store):
    assert len(seed_zoo(store)) == len(builtin_models())
    stored = {m.name: m for m in store.list_zoo_models()}
    assert {name: m.code_md5 for name, m in stored.items()} == {
        m.name: m.code_md5 for m in builtin_models()
    }
    assert stored["ResNetGRU"].encoder == "ResNet" and stored["ResNetGRU"].decoder == "GRU"
    imported = ZooModel("VGG", IMG_CLASSIFICATION, "class Net: ...", source="lemur:ab.nn.db")
    store.put_zoo_model(imported)
    assert "VGG" not in seed_zoo(store)  # a model the user imported is not overwritten
    assert store.get_zoo_model("VGG").source == "lemur:ab.nn.db"


@pytest.mark.parametrize("baseline", ["ResNetLSTM", "ResNetGRU", "ResNetTransformer"])
@pytest.mark.parametrize("k", [5, 10])
def test_snippets_never_include_the_baseline_encoder_and_are_deterministic(baseline, k):
    models = builtin_models()
    chosen = {m.name: m for m in models}[baseline]
    for seed in range(30):
        picked = sample_snippets(models, chosen, k, random.Random(seed))
        assert len(picked) == len({m.name for m in picked}) == k
        assert all(m.task == IMG_CLASSIFICATION and m.family != "ResNet" for m in picked)
        again = sample_snippets(list(reversed(models)), chosen, k, random.Random(seed))
        assert [m.name for m in again] == [m.name for m in picked]
    draws = {
        tuple(m.name for m in sample_snippets(models, chosen, k, random.Random(s)))
        for s in range(30)
    }
    assert len(draws) > 1


def test_snippets_exclude_a_lemur_encoder_family_by_name_and_refuse_too_many():
    lemur_vgg = ZooModel("C5C-VGG-" + "a" * 32, IMG_CLASSIFICATION, "", family="VGG")
    baseline = ZooModel("VGGTransformer", IMG_CAPTIONING, "")  # encoder read from the name
    models = [*builtin_models(), lemur_vgg]
    picked = sample_snippets(models, baseline, 11, random.Random(0))
    assert "VGG" not in {m.family for m in picked}
    with pytest.raises(ValueError, match="only 11 classification models"):
        sample_snippets(models, baseline, 12, random.Random(0))
