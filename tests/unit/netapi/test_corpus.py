"""The static checker on a corpus of good and bad candidates, each stating its expected verdict.

Every corpus file starts with three header lines:
    # expect-outcome: <outcome>
    # expect-rules: <comma-separated rule ids, or none>
    # task: <img-classification | img-captioning>
"""

import pathlib

import pytest

from netapi.static_check import check_source
from netapi.tasks import TASKS

CORPUS = pathlib.Path(__file__).with_name("corpus")
FILES = sorted(CORPUS.glob("*.py"))

# Every rule the checker can report; the corpus must exercise each one, except those
# that cannot be written as a file with a header (tested in test_parsing.py).
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
    "missing-optimizer",
    "missing-supported-hyperparameters",
    "missing-net-class",
    "net-not-module",
}


def _expectation(path: pathlib.Path) -> tuple[str, set[str], str]:
    header = dict(line[2:].split(": ", 1) for line in path.read_text().splitlines()[:3])
    rules = header["expect-rules"].strip()
    expected_rules = set() if rules == "none" else {r.strip() for r in rules.split(",")}
    return header["expect-outcome"].strip(), expected_rules, header["task"].strip()


def test_corpus_is_large_and_covers_every_rule_and_task():
    expectations = [_expectation(path) for path in FILES]
    assert len(FILES) >= 30
    covered = set().union(*(rules for _, rules, _ in expectations))
    assert ALL_RULES <= covered
    assert {task for _, _, task in expectations} == set(TASKS)
    for task in TASKS:
        assert any(o == "success" and t == task for o, _, t in expectations)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_candidate_gets_its_expected_verdict(path):
    outcome, rules, task = _expectation(path)
    verdict = check_source(path.read_text(), task)
    assert verdict.outcome.value == outcome
    assert {finding.rule for finding in verdict.findings} == rules
    assert all(finding.message for finding in verdict.findings)
