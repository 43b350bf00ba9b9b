"""`nasforge search optuna`: a finished search through a real server, written as an Optuna
study and read back with Optuna itself (what optuna-dashboard shows)."""

import asyncio

import optuna
import pytest

from cli.exports.optuna_study import write_study
from cli.search_client import SearchClient
from nasforge.search_core.v1 import search_core_pb2 as pb
from netapi.outcomes import Outcome, Stage
from rpc.server import start_server
from search_core.config import SearchCoreSettings
from search_core.engine.runner import SearchEngine
from search_core.server import search_binding
from search_core.services import CheckVerdict
from search_core.store import open_store
from tests.unit.search_core.engine.scripted import ScriptedServices, method_factory, model_code
from tests.unit.search_core.engine.test_engine import TemplateMethod

CONFIG = {
    "method": "random",
    "generator": "template",
    "max_candidates": 3,
    "training": {"epochs": 2},
}


@pytest.fixture
async def finished_search(tmp_path):
    """(client, search id) of a search whose second candidate fails its check."""
    store = open_store(str(tmp_path / "store.db"))
    services = ScriptedServices()
    broken = model_code(101)  # TemplateMethod's code for slot 1
    services.verdict = lambda code: (
        CheckVerdict(Outcome.SHAPE_MISMATCH, Stage.FORWARD, "RuntimeError", "bad shape")
        if code == broken
        else CheckVerdict(Outcome.SUCCESS, parameter_count=10)
    )
    settings = SearchCoreSettings(
        allow_anonymous_tenant="acme", plaintext=True, max_in_flight_per_search=1
    )
    engine = SearchEngine(store, services, settings, method_factory(lambda c, t: TemplateMethod()))
    await engine.start()
    running = await start_server([search_binding(engine)], settings)
    async with SearchClient(f"127.0.0.1:{running.port}", None, tls=None) as client:
        search_id = await client.submit({**CONFIG, "repair_attempts": 0})
        async for _ in engine.watch("acme", search_id):
            pass
        yield client, search_id
    await running.shutdown(0)
    await engine.close()
    store.close()


async def test_each_candidate_is_a_trial_valued_by_validation_only(finished_search, tmp_path):
    client, search_id = finished_search
    search = (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
    candidates = await client.candidates(search_id)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    await asyncio.to_thread(write_study, search, candidates, storage)

    study = optuna.load_study(study_name=search_id, storage=storage)  # read back
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 3
    states = [t.state for t in trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 2
    assert states.count(optuna.trial.TrialState.FAIL) == 1
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(t.value == pytest.approx(0.5) for t in done)  # the validation score
    assert all(t.user_attrs["test_accuracy"] == pytest.approx(0.25) for t in done)  # held out
    assert all(t.params == {"lr": pytest.approx(0.1)} for t in done)
    assert all(t.intermediate_values == {1: 0.5, 2: 0.5} for t in done)
    failed = next(t for t in trials if t.state == optuna.trial.TrialState.FAIL)
    assert failed.user_attrs["outcome"] == "shape_mismatch"
    assert study.best_trial.user_attrs["candidate_id"] in {
        c.summary.candidate_id for c in candidates
    }
    assert study.user_attrs["search_id"] == search_id


async def test_a_study_of_that_name_is_not_overwritten(finished_search, tmp_path):
    client, search_id = finished_search
    search = (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    await asyncio.to_thread(write_study, search, [], storage)
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        await asyncio.to_thread(write_study, search, [], storage)
