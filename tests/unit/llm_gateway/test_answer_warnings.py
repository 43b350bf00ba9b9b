"""The gateway's static checks keep their warnings apart: an answer written as LEMUR writes it
is a success, its warnings on the analysis and in the reply, never its outcome."""

from llm_gateway.analysis import AnswerAnalyzer
from llm_gateway.domain import AnswerKind, FinishReason
from llm_gateway.server import analysis_to_pb
from nasforge.common.v1 import common_pb2
from netapi.code_policy import CodePolicy
from netapi.outcomes import Outcome
from netapi.tasks import default_spec
from tests.unit.netapi import lemur_style

LEMUR_WARNINGS = ["unread-hyperparameter", "criterion-for-criteria"]


def analyse(code: str):
    answer = f"Here is the model.\n\n```python\n{code}```\n"
    return AnswerAnalyzer(CodePolicy()).analyse(
        answer, FinishReason.EOS, AnswerKind.NET_CODE, default_spec("img-classification")
    )


def test_an_answer_as_lemur_writes_it_succeeds_with_its_warnings():
    analysis = analyse(lemur_style.AS_LEMUR_WRITES_IT)
    assert analysis.outcome is Outcome.SUCCESS and analysis.findings == ()
    assert [w.rule for w in analysis.warnings] == LEMUR_WARNINGS
    reply = analysis_to_pb(analysis)
    assert reply.outcome == common_pb2.OUTCOME_SUCCESS and not reply.findings
    assert [w.rule for w in reply.warnings] == LEMUR_WARNINGS


def test_an_error_decides_and_the_warnings_stay():
    analysis = analyse(lemur_style.ERROR_AND_WARNINGS)
    assert analysis.outcome is Outcome.SHAPE_MISMATCH
    assert [f.rule for f in analysis.findings] == ["batch-as-channels"]
    assert len(analysis.warnings) == 2
