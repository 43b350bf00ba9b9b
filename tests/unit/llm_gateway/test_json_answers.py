"""JSON answers: finding the object, and the schema subset the templates use."""

import json

from llm_gateway.analysis import AnswerAnalyzer
from llm_gateway.domain import AnswerKind, FinishReason
from llm_gateway.json_answers import extract_json, schema_findings
from llm_gateway.prompts.library import PromptLibrary
from netapi.code_policy import CodePolicy
from netapi.outcomes import Outcome
from netapi.tasks import default_spec

SCHEMA = PromptLibrary.load().get("design_knowledge_extract").json_schema
CATEGORIES = json.loads(SCHEMA)["required"]


def analyse(text: str, finish: FinishReason = FinishReason.EOS, schema: str | None = SCHEMA):
    analyzer = AnswerAnalyzer(CodePolicy())
    return analyzer.analyse(
        text, finish, AnswerKind.JSON, default_spec("img-classification"), schema
    )


def knowledge(**overrides) -> dict:
    document = {category: [] for category in CATEGORIES}
    document["normalization"] = [{"attribute": "batch norm", "description": "after each conv"}]
    return {**document, **overrides}


def test_fenced_json_after_reasoning():
    text = "<think>The paper uses BN.</think>\n```json\n" + json.dumps(knowledge()) + "\n```"
    analysis = analyse(text)
    assert analysis.outcome is Outcome.SUCCESS
    assert analysis.extraction_rule == "fenced-json"
    assert json.loads(analysis.content) == knowledge()
    assert analysis.reasoning == "The paper uses BN."


def test_bare_json_with_prose_around_it():
    text = "Sure! Here it is: " + json.dumps(knowledge()) + " Let me know if you need more."
    analysis = analyse(text)
    assert (analysis.outcome, analysis.extraction_rule) == (Outcome.SUCCESS, "bare-json")


def test_schema_violations_are_findings():
    bad = knowledge(activation=[{"attribute": "gelu"}], feature_fusion="concat")
    del bad["input_encoding"]
    analysis = analyse(json.dumps(bad))
    assert analysis.outcome is Outcome.API_NONCOMPLIANCE
    messages = " | ".join(finding.message for finding in analysis.findings)
    assert "lacks the key 'input_encoding'" in messages
    assert "activation[0] lacks the key 'description'" in messages
    assert "feature_fusion must be array" in messages


def test_numbers_are_range_checked():
    schema = PromptLibrary.load().get("fairnad_tune_hyperparameters").json_schema
    findings = schema_findings(
        {"hyperparameters": {"lr": 1.5, "momentum": True}, "rationale": "x"}, schema
    )
    assert [
        "hyperparameters.lr = 1.5 is above 1",
        "hyperparameters.momentum must be number, not bool",
    ] == [finding.message for finding in findings]


def test_cut_broken_and_missing_json():
    cut = analyse('```json\n{"normalization": [{"attribute": "bat', FinishReason.LENGTH)
    assert cut.outcome is Outcome.TRUNCATED
    broken = analyse("{'normalization': [],}")
    assert broken.outcome is Outcome.SYNTAX_ERROR
    missing = analyse("The paper has no architecture ideas.")
    assert missing.outcome is Outcome.NO_CODE
    assert extract_json("[1, 2]", FinishReason.EOS)[1] is None  # an array is not an object


def test_text_answers_are_not_checked():
    analysis = AnswerAnalyzer(CodePolicy()).analyse(
        "<think>hm</think>Hello",
        FinishReason.EOS,
        AnswerKind.TEXT,
        default_spec("img-classification"),
    )
    assert (analysis.outcome, analysis.content, analysis.reasoning) == (Outcome.SUCCESS, "", "hm")
