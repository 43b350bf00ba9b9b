"""The static checker accepts what LEMUR accepts: one loss as criteria, `criterion`, a declared
hyperparameter never read; the last two are warnings, recorded and never the outcome."""

import pytest

from netapi.criteria import (
    CRITERION_RULE,
    as_losses,
    criteria_attribute,
    criteria_of,
    replace_first_loss,
)
from netapi.findings import Finding, Severity, Verdict, warning
from netapi.outcomes import Outcome, Stage
from netapi.static_check import check_source
from tests.unit.netapi import lemur_style

TASK = "img-classification"


def rules(findings) -> set[str]:
    return {finding.rule for finding in findings}


@pytest.mark.parametrize(
    ("code", "warnings"),
    [
        (lemur_style.CANONICAL, set()),
        (lemur_style.SINGLE_LOSS, set()),
        (lemur_style.CRITERION, {CRITERION_RULE}),
        (lemur_style.UNREAD_DROPOUT, {"unread-hyperparameter"}),
        (lemur_style.AS_LEMUR_WRITES_IT, {CRITERION_RULE, "unread-hyperparameter"}),
    ],
    ids=["canonical", "single-loss", "criterion", "unread-dropout", "as-lemur-writes-it"],
)
def test_what_lemur_trains_succeeds_with_its_warnings(code, warnings):
    verdict = check_source(code, TASK)
    assert verdict.outcome is Outcome.SUCCESS
    assert verdict.findings == ()
    assert rules(verdict.warnings) == warnings
    assert all(w.is_warning and w.outcome is Outcome.SUCCESS for w in verdict.warnings)


def test_the_warnings_say_what_was_written():
    verdict = check_source(lemur_style.AS_LEMUR_WRITES_IT, TASK)
    messages = {w.rule: w.message for w in verdict.warnings}
    assert "the Net API names it criteria; criterion was used" in messages[CRITERION_RULE]
    assert "'dropout'" in messages["unread-hyperparameter"]
    assert all(w.line > 0 for w in verdict.warnings)


def test_a_real_error_still_decides_and_the_warnings_stay_beside_it():
    verdict = check_source(lemur_style.ERROR_AND_WARNINGS, TASK)
    assert verdict.outcome is Outcome.SHAPE_MISMATCH
    assert rules(verdict.findings) == {"batch-as-channels"}
    assert rules(verdict.warnings) == {CRITERION_RULE, "unread-hyperparameter"}


def test_no_losses_at_all_is_still_refused():
    verdict = check_source(lemur_style.NO_CRITERIA, TASK)
    assert verdict.outcome is Outcome.API_NONCOMPLIANCE
    assert rules(verdict.findings) == {"missing-criteria"}


def test_warnings_never_decide_a_verdict_and_are_kept_apart():
    error = Finding("missing-optimizer", Outcome.API_NONCOMPLIANCE, "no optimizer", 9)
    note = warning("unread-hyperparameter", "dropout is never read", 3)
    assert Verdict.of([note]) == Verdict(Outcome.SUCCESS, (), (note,))
    verdict = Verdict.of([note, error])
    assert (verdict.outcome, verdict.findings, verdict.warnings) == (
        Outcome.API_NONCOMPLIANCE,
        (error,),
        (note,),
    )


def test_a_warning_as_json_has_a_severity_and_no_outcome_and_reads_back():
    note = warning(CRITERION_RULE, "criterion was used", 12, 0, Stage.LEARN)
    fields = note.to_dict()
    assert fields["severity"] == "warning" and "outcome" not in fields
    assert Finding.from_dict(fields) == note
    error = Finding("syntax", Outcome.SYNTAX_ERROR, "bad", 1)
    assert "severity" not in error.to_dict()
    assert Finding.from_dict(error.to_dict()) == error
    assert error.severity is Severity.ERROR


def test_verdict_json_lists_its_warnings():
    verdict = check_source(lemur_style.UNREAD_DROPOUT, TASK).to_dict()
    assert verdict["outcome"] == "success" and verdict["findings"] == []
    assert [w["rule"] for w in verdict["warnings"]] == ["unread-hyperparameter"]


class _Model:
    """Stands for a Net after train_setup (the rule reads attributes, never torch)."""

    def __init__(self, **attributes):
        self.__dict__.update(attributes)


def loss(*_):
    return 0.0


def other(*_):
    return 1.0


@pytest.mark.parametrize(
    ("model", "attribute", "losses"),
    [
        (_Model(criteria=(loss, other)), "criteria", (loss, other)),
        (_Model(criteria=[loss]), "criteria", (loss,)),
        (_Model(criteria=loss), "criteria", (loss,)),
        (_Model(criterion=loss), "criterion", (loss,)),
        (_Model(criteria=(loss,), criterion=other), "criteria", (loss,)),
        (_Model(), None, ()),
        (_Model(criteria=None), None, ()),
    ],
)
def test_criteria_of_reads_one_loss_a_tuple_or_criterion(model, attribute, losses):
    assert criteria_attribute(model) == attribute
    assert criteria_of(model) == losses


@pytest.mark.parametrize(
    ("value", "replaced"),
    [((loss, other), ("new", other)), ([loss, other], ["new", other]), (loss, "new")],
)
def test_replacing_the_first_loss_keeps_the_shape_the_model_set(value, replaced):
    model = _Model(criterion=value)
    replace_first_loss(model, "new")
    assert model.criterion == replaced
    assert as_losses(None) == ()
