"""netapi.parsing: truncated code vs syntax errors, and inputs that break naive parsers."""

import pytest

from netapi.outcomes import Outcome
from netapi.parsing import parse_candidate
from netapi.static_check import check_source


@pytest.mark.parametrize(
    "source",
    [
        "x = (1,\n     2",
        "class Net:\n    def forward(self, x):\n",
        "s = '''docstring that never ends",
        "y = 1 +\n",
        "layers = [nn.Conv2d(3, 8, 3),\n          nn.ReLU(),\n",
        "self.fc = nn.Linear(\n",
    ],
)
def test_code_cut_off_is_truncated(source):
    assert parse_candidate(source).finding.outcome == Outcome.TRUNCATED


@pytest.mark.parametrize(
    "source",
    [
        "def f(:\n    pass\n",
        "x = = 1\nprint(x)\n",
        "print('unclosed'\n\ndef g():\n    return 1\n",
        "This is prose, not Python.\n",
        "a\x00b = 1\n",
        "x = " + "(" * 300 + ")" * 300 + "\n",
    ],
)
def test_broken_code_is_a_syntax_error(source):
    assert parse_candidate(source).finding.outcome == Outcome.SYNTAX_ERROR


def test_pathologically_deep_expression_is_a_syntax_error_not_a_crash():
    finding = parse_candidate("x = " + "-" * 200_000 + "1\n").finding
    assert finding.outcome == Outcome.SYNTAX_ERROR
    assert "nested too deeply" in finding.message


@pytest.mark.parametrize("source", ["", "  \n\t\n"])
def test_empty_source_is_no_code(source):
    verdict = check_source(source, "img-classification")
    assert verdict.outcome == Outcome.NO_CODE
    assert [finding.rule for finding in verdict.findings] == ["empty"]


def test_oversized_source_is_refused_without_parsing():
    verdict = check_source("x = 1\n" * 100_000, "img-classification")
    assert [finding.rule for finding in verdict.findings] == ["too-long"]


def test_messages_are_single_line_and_bounded():
    verdict = check_source("import " + "a" * 5000 + "\x1b[31m\n", "img-classification")
    for finding in verdict.findings:
        assert "\n" not in finding.message and "\x1b" not in finding.message
        assert len(finding.message) <= 400


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown task"):
        check_source("x = 1", "img-detection")
