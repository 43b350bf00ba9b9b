"""The static checker on a corpus of good and bad candidates, each stating its expected verdict.

Every corpus file starts with three header lines, and a fourth where it expects warnings
(findings recorded on the candidate that never decide its outcome):
    # expect-outcome: <outcome>
    # expect-rules: <comma-separated rule ids, or none>
    # task: <img-classification | img-captioning>
    # expect-warnings: <comma-separated rule ids>
"""

import pathlib

import pytest

from netapi.static_check import check_source
from netapi.tasks import TASKS

CORPUS = pathlib.Path(__file__).with_name("corpus")
FILES = sorted(CORPUS.glob("*.py"))

# Every rule the checker can report, errors and warnings; the corpus must exercise each one,
# except those that cannot be written as a file with a header (tested in test_parsing.py).
ALL_RULES = {
    "empty",
    "syntax",
    "truncated",
    "relative-import",
    "star-import",
    "unknown-module",
    "forbidden-import",
    "forbidden-call",
    "forbidden-attribute",
    "computed-attribute",
    "string-evaluation",
    "string-annotation",
    "forbidden-torch-api",
    "pretrained-weights",
    "unread-hyperparameter",
    "reserved-hyperparameter",
    "undeclared-hyperparameter",
    "missing-method",
    "bad-signature",
    "batch-as-channels",
    "missing-criteria",
    "criterion-for-criteria",
    "missing-optimizer",
    "missing-supported-hyperparameters",
    "missing-net-class",
    "net-not-module",
}


def _rule_set(text: str) -> set[str]:
    text = text.strip()
    return set() if text == "none" else {rule.strip() for rule in text.split(",")}


HEADER_KEYS = ("expect-outcome", "expect-rules", "task", "expect-warnings")


def _expectation(path: pathlib.Path) -> tuple[str, set[str], str, set[str]]:
    header = {}
    for line in path.read_text().splitlines()[: len(HEADER_KEYS)]:
        key, _, value = line.removeprefix("# ").partition(": ")
        if line.startswith("# ") and key in HEADER_KEYS:
            header[key] = value
    return (
        header["expect-outcome"].strip(),
        _rule_set(header["expect-rules"]),
        header["task"].strip(),
        _rule_set(header.get("expect-warnings", "none")),
    )


def test_corpus_is_large_and_covers_every_rule_and_task():
    expectations = [_expectation(path) for path in FILES]
    assert len(FILES) >= 30
    covered = set().union(*(rules | warnings for _, rules, _, warnings in expectations))
    assert ALL_RULES <= covered
    assert {task for _, _, task, _ in expectations} == set(TASKS)
    for task in TASKS:
        assert any(o == "success" and t == task for o, _, t, _ in expectations)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_candidate_gets_its_expected_verdict(path):
    outcome, rules, task, warnings = _expectation(path)
    verdict = check_source(path.read_text(), task)
    assert verdict.outcome.value == outcome
    assert {finding.rule for finding in verdict.findings} == rules
    assert {finding.rule for finding in verdict.warnings} == warnings
    assert all(finding.message for finding in (*verdict.findings, *verdict.warnings))
