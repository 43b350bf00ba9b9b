"""The extraction and static checks on a corpus of answers in the styles real models write.

Each answer (answers/*.md) states its expected analysis in answers/cases.toml: reasoning
blocks, several code blocks, prose around code, cut-off answers, other languages,
hallucinated names. The analysis runs with the sandbox image's real torch name index.
"""

import pathlib
import tomllib

import pytest

from llm_gateway.analysis import AnswerAnalyzer
from llm_gateway.domain import AnswerKind, FinishReason
from netapi.code_policy import CodePolicy
from netapi.name_index import NameIndex
from netapi.outcomes import Outcome
from netapi.tasks import default_spec

ANSWERS = pathlib.Path(__file__).with_name("answers")
CASES = tomllib.loads((ANSWERS / "cases.toml").read_text())
INDEX = pathlib.Path(__file__).resolve().parents[3] / "var" / "torch_index.json"


@pytest.fixture(scope="module")
def analyzer():
    return AnswerAnalyzer(CodePolicy(index=NameIndex.load(INDEX)))


def test_every_answer_has_a_case_and_the_corpus_is_large_enough():
    files = {path.name for path in ANSWERS.glob("*.md")}
    assert files == set(CASES)
    assert len(files) >= 25


def test_the_corpus_covers_every_outcome_extraction_can_decide():
    outcomes = {case["outcome"] for case in CASES.values()}
    assert {"success", "no_code", "truncated", "hallucinated_api", "syntax_error"} <= outcomes
    rules = {case["rule"] for case in CASES.values()}
    assert {"fenced-net-class", "fenced-python", "bare-code", ""} == rules


@pytest.mark.parametrize("name", sorted(CASES))
def test_answer(analyzer, name):
    case = CASES[name]
    text = (ANSWERS / name).read_text()
    analysis = analyzer.analyse(
        text,
        FinishReason(case.get("finish", "eos_token")),
        AnswerKind.NET_CODE,
        default_spec(case.get("task", "img-classification")),
    )
    assert analysis.outcome is Outcome(case["outcome"]), [f.message for f in analysis.findings]
    assert analysis.extraction_rule == case["rule"]
    assert set(case.get("findings", [])) <= {finding.rule for finding in analysis.findings}
    names = [f"{name.kind.value}:{name.name}" for name in analysis.hallucinated_names]
    assert sorted(names) == sorted(case.get("names", []))
    if "contains" in case:
        assert case["contains"] in analysis.content
    if "lacks" in case:
        assert case["lacks"] not in analysis.content
    if "reasoning" in case:
        assert case["reasoning"] in analysis.reasoning
    assert (analysis.content == "") == (case["rule"] == "")
    if analysis.outcome is Outcome.SUCCESS:
        assert analysis.findings == ()
