"""rpc.convert: netapi values survive the wire both ways, unset fields read as documented."""

import pytest

from nasforge.common.v1 import common_pb2
from netapi.findings import Finding, warning
from netapi.outcomes import Outcome, Stage
from rpc.convert import (
    finding_from_pb,
    finding_to_pb,
    scores_from_pb,
    stage_from_pb,
    stage_to_pb,
    warning_from_pb,
)
from rpc.errors import InvalidArgument


@pytest.mark.parametrize("stage", [*Stage, None])
def test_a_stage_survives_the_wire(stage):
    assert stage_from_pb(stage_to_pb(stage)) == stage


def test_a_finding_keeps_its_stage_and_column():
    finding = Finding(
        "shape-mismatch", Outcome.SHAPE_MISMATCH, "got [2, 5]", 7, 4, stage=Stage.FORWARD
    )
    assert finding_from_pb(finding_to_pb(finding)) == finding


def test_a_finding_without_a_stage_is_static_and_one_without_an_outcome_is_refused():
    message = common_pb2.Finding(rule="r", outcome=common_pb2.OUTCOME_SYNTAX_ERROR, message="m")
    assert finding_from_pb(message).stage is Stage.STATIC
    with pytest.raises(InvalidArgument):
        finding_from_pb(common_pb2.Finding(rule="r", message="m"))


def test_a_warning_survives_the_wire_and_is_never_an_outcome():
    note = warning("criterion-for-criteria", "criterion was used", 12, 4, Stage.LEARN)
    message = finding_to_pb(note)
    assert message.outcome == common_pb2.OUTCOME_SUCCESS
    assert warning_from_pb(message) == note
    forged = common_pb2.Finding(rule="r", outcome=common_pb2.OUTCOME_OOM, message="m")
    assert warning_from_pb(forged).outcome is Outcome.SUCCESS


def test_scores_hold_only_the_fields_that_are_set():
    scores = common_pb2.Scores(bleu4_corpus=0.25, parameter_count=1000)
    assert scores_from_pb(scores) == {"bleu4_corpus": 0.25, "parameter_count": 1000.0}
    assert scores_from_pb(common_pb2.Scores()) == {}
