"""The generation half of a candidate's record, as the engine stores it: the prompt, the raw
answer, the reasoning, the model and the sampling of the answer whose code was trained, read
back from a real SQLite store and through the API's conversion."""

import hashlib

import pytest

from netapi.outcomes import Outcome, Stage
from search_core.convert import candidate_to_pb
from search_core.domain import Generator
from search_core.generation.provenance import GENERATION_KEYS, record_generation
from search_core.services import CheckVerdict
from search_core.store import open_store
from tests.unit.search_core.engine.scripted import SCRIPTED_MODEL, ScriptedServices, model_code
from tests.unit.search_core.engine.test_engine import (
    PromptMethod,
    TemplateMethod,
    _config,
    _engine,
    _finish,
)


@pytest.fixture
def store(tmp_path):
    instance = open_store(str(tmp_path / "store.db"))
    yield instance
    instance.close()


async def _one_candidate(store, services, method, config):
    engine = _engine(store, services, method)
    search = await engine.submit("acme", config)
    await _finish(engine, "acme", search.search_id)
    (candidate,) = store.search_candidates(search.search_id)
    return candidate


async def test_a_generated_candidate_records_its_prompt_answer_model_and_sampling(store):
    services = ScriptedServices()
    services.answers = [model_code(21)]
    config = _config(1, seed=40, temperature=0.6, max_new_tokens=700)
    candidate = await _one_candidate(store, services, PromptMethod(), config)
    assert candidate.outcome is Outcome.SUCCESS
    record = candidate.provenance
    assert set(GENERATION_KEYS) <= set(record)
    (prompt,) = services.prompts
    assert record["prompt_name"] == "fairnad_apply_idea" and record["prompt_version"] == "v2"
    assert record["prompt_sha256"] == hashlib.sha256(repr(prompt).encode()).hexdigest()
    assert record["raw_answer"] == f"<think>widen it</think>```python\n{model_code(21)}```"
    assert record["reasoning"] == "widen it"
    assert record["model"] == {
        "name": "qwen2.5-coder-0.5b",
        "backend": "embedded",
        "served_model": SCRIPTED_MODEL.served_model,
        "revision": "",
        "file_sha256": "ab" * 32,
    }
    ((temperature, seed),) = services.sampling
    assert record["sampling"] == {
        "max_new_tokens": 700,
        "temperature": temperature,
        "top_p": 0.95,
        "seed": seed,
    }
    assert seed == (40 + candidate.slot) * 16  # the first answer's seed: search seed + slot


async def test_a_repaired_candidate_records_the_answer_it_was_trained_with(store):
    services = ScriptedServices()
    broken, fixed = model_code(11), model_code(12)
    services.answers = [broken, fixed]
    services.verdict = lambda code: (
        CheckVerdict(Outcome.SHAPE_MISMATCH, Stage.FORWARD, "RuntimeError", "got [2, 11]")
        if code == broken
        else CheckVerdict(Outcome.SUCCESS, parameter_count=10)
    )
    candidate = await _one_candidate(store, services, PromptMethod(), _config(1))
    assert candidate.outcome is Outcome.SUCCESS and candidate.code == fixed
    record = candidate.provenance
    assert record["prompt_name"] == "repair_edit"
    assert fixed in record["raw_answer"] and broken not in record["raw_answer"]
    assert record["sampling"]["seed"] == services.sampling[1][1]  # the repair's own seed
    assert candidate.history[0]["code_md5"] != candidate.code_md5  # the first round is kept


async def test_an_older_gateway_answer_keeps_what_search_core_asked_for(store):
    """A gateway that names no digest, identity or settings: the record carries what came
    (empty) and the settings search_core asked for."""
    services = ScriptedServices()
    services.names_origin = False
    services.answers = [model_code(31)]
    config = _config(1, seed=5, temperature=0.9, max_new_tokens=512)
    candidate = await _one_candidate(store, services, PromptMethod(), config)
    record = candidate.provenance
    assert record["prompt_name"] == "fairnad_apply_idea" and record["prompt_version"] == ""
    assert record["prompt_sha256"] == ""
    assert record["model"]["name"] == "qwen2.5-coder-0.5b" and record["model"]["backend"] == ""
    assert record["sampling"] == {
        "max_new_tokens": 512,
        "temperature": 0.9,
        "top_p": None,
        "seed": 5 * 16,
    }


async def test_the_training_half_written_beside_it_is_kept(store):
    """The record is one dict with two writers: the generation half merges into what the
    training half wrote, never over it."""
    services = ScriptedServices()
    services.answers = [model_code(41)]
    engine = _engine(store, services, PromptMethod())
    search = await engine.submit("acme", _config(1))
    await _finish(engine, "acme", search.search_id)
    (candidate,) = store.search_candidates(search.search_id)
    candidate.provenance["dataset_digest"] = "sha256:" + "c" * 64
    record_generation(candidate, {**candidate.provenance, "raw_answer": "later"})
    assert candidate.provenance["dataset_digest"] == "sha256:" + "c" * 64
    assert candidate.provenance["raw_answer"] == "later"


async def test_a_template_candidate_has_no_generation_half(store):
    candidate = await _one_candidate(
        store, ScriptedServices(), TemplateMethod(), _config(1, generator="template")
    )
    assert candidate.generator is Generator.TEMPLATE and candidate.outcome is Outcome.SUCCESS
    assert not set(GENERATION_KEYS) & set(candidate.provenance)
    assert candidate_to_pb(candidate).provenance.raw_answer == ""


async def test_the_api_shows_the_record(store):
    services = ScriptedServices()
    services.answers = [model_code(51)]
    candidate = await _one_candidate(store, services, PromptMethod(), _config(1, seed=2))
    candidate.provenance |= {
        "runtime_image_digest": "sha256:" + "d" * 64,
        "dataset_name": "fashion-mnist",
        "dataset_digest": "sha256:" + "e" * 64,
        "code_sha256": hashlib.sha256(candidate.code.encode()).hexdigest(),
        "training_seed": 2,
        "training_epochs": 2,
    }
    message = candidate_to_pb(candidate).provenance
    record = candidate.provenance
    assert message.prompt_name == "fairnad_apply_idea" and message.prompt_version == "v2"
    assert message.prompt_sha256 == record["prompt_sha256"]
    assert message.raw_answer == record["raw_answer"] and message.reasoning == "widen it"
    assert message.model.backend == "embedded" and message.model.file_sha256 == "ab" * 32
    assert message.sampling.max_new_tokens == record["sampling"]["max_new_tokens"]
    assert message.sampling.seed == record["sampling"]["seed"]
    assert message.sampling.top_p == pytest.approx(0.95)
    assert message.runtime_image_digest == "sha256:" + "d" * 64
    assert message.dataset_name == "fashion-mnist"
    assert message.dataset_digest == "sha256:" + "e" * 64
    assert message.code_sha256 == record["code_sha256"]
    assert (message.training_seed, message.training_epochs) == (2, 2)
