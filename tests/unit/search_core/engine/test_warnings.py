"""A candidate's warnings: the sandbox's, recorded on the candidate and carried by the API,
never its outcome; they belong to the code as it stands (a repair's code brings its own)."""

from netapi.findings import warning
from netapi.outcomes import Outcome, Stage
from search_core.convert import candidate_to_pb, summary_to_pb
from search_core.services import CheckVerdict
from tests.unit.search_core.engine.scripted import ScriptedServices, model_code
from tests.unit.search_core.engine.test_engine import (
    PromptMethod,
    _config,
    _engine,
    _finish,
    store,  # noqa: F401 (the fixture)
)

CRITERION = warning("criterion-for-criteria", "criterion was used", 9)
UNREAD = warning("unread-hyperparameter", "'dropout' is never read", 4)


async def test_a_successful_candidate_keeps_its_warnings_through_store_and_api(store):  # noqa: F811
    services = ScriptedServices()
    services.answers = [model_code(31)]
    services.verdict = lambda code: CheckVerdict(
        Outcome.SUCCESS, parameter_count=10, warnings=(UNREAD, CRITERION)
    )
    engine = _engine(store, services, PromptMethod())
    search = await engine.submit("acme", _config(1))
    await _finish(engine, "acme", search.search_id)
    (candidate,) = store.search_candidates(search.search_id)
    assert candidate.outcome is Outcome.SUCCESS and candidate.findings == []
    assert candidate.warnings == [UNREAD.to_dict(), CRITERION.to_dict()]
    summary = summary_to_pb(candidate)
    assert [w.rule for w in summary.warnings] == ["unread-hyperparameter", "criterion-for-criteria"]
    assert summary.warnings[1].line == 9
    assert candidate_to_pb(candidate).summary.warnings == summary.warnings
    assert not candidate_to_pb(candidate).findings


async def test_a_failure_keeps_its_outcome_and_a_repair_brings_its_own_warnings(store):  # noqa: F811
    services = ScriptedServices()
    broken, fixed = model_code(41), model_code(42)
    services.answers = [broken, fixed]
    services.verdict = lambda code: (
        CheckVerdict(
            Outcome.SHAPE_MISMATCH,
            Stage.FORWARD,
            "RuntimeError",
            "layer body (Linear) got [2, 41], expects [*, 42]",
            warnings=(CRITERION,),
        )
        if code == broken
        else CheckVerdict(Outcome.SUCCESS, parameter_count=10)
    )
    engine = _engine(store, services, PromptMethod())
    search = await engine.submit("acme", _config(1, repair_attempts=0))
    await _finish(engine, "acme", search.search_id)
    (failed,) = store.search_candidates(search.search_id)
    assert failed.outcome is Outcome.SHAPE_MISMATCH
    assert [w["rule"] for w in failed.warnings] == ["criterion-for-criteria"]

    # New code (the first two are in the store); the scripted verdict reads `broken` anew.
    broken, fixed = model_code(43), model_code(44)
    services.answers = [broken, fixed]
    search = await engine.submit("acme", _config(1))
    await _finish(engine, "acme", search.search_id)
    (repaired,) = store.search_candidates(search.search_id)
    assert repaired.outcome is Outcome.SUCCESS and repaired.repair_attempts == 1
    assert repaired.warnings == []  # the broken code's warning went with it
