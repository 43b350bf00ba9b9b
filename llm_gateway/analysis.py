"""Judge an answer without running it: extract, run netapi's static checks, name the hallucinations.

The static checks and the name resolver are netapi's, with the name index of the sandbox
image (var/torch_index.json), so the gateway judges torch names exactly as the sandbox's
torch would, without torch installed here. Each hallucinated_api finding names what it is
about (its subject); those are the `hallucinated_names` of the response (a module, an
attribute, or a keyword).
"""

from llm_gateway.domain import (
    Analysis,
    AnswerKind,
    FinishReason,
    HallucinatedName,
    HallucinationKind,
)
from llm_gateway.extraction import extract_code
from llm_gateway.json_answers import extract_json, schema_findings
from llm_gateway.reasoning import split_reasoning
from netapi.code_policy import CodePolicy
from netapi.findings import Finding, Verdict
from netapi.outcomes import Outcome
from netapi.static_check import check_source
from netapi.tasks import TaskSpec

# Which kind of name each hallucinated_api rule of netapi is about.
_KIND_OF_RULE = {
    "unknown-module": HallucinationKind.MODULE,
    "unknown-name": HallucinationKind.ATTRIBUTE,
    "unknown-keyword": HallucinationKind.KEYWORD,
}


def hallucinated_names(findings: tuple[Finding, ...]) -> tuple[HallucinatedName, ...]:
    """The distinct names behind the hallucinated_api findings (their subjects)."""
    names: dict[tuple[str, str], HallucinatedName] = {}
    for finding in findings:
        kind = _KIND_OF_RULE.get(finding.rule)
        if finding.outcome is Outcome.HALLUCINATED_API and kind is not None and finding.subject:
            names.setdefault(
                (kind, finding.subject), HallucinatedName(kind, finding.subject, finding.line)
            )
    return tuple(sorted(names.values(), key=lambda name: (name.line, name.name)))


class AnswerAnalyzer:
    """Extraction and static checks of answers, under one code policy."""

    def __init__(self, policy: CodePolicy) -> None:
        self.policy = policy

    def analyse(
        self,
        text: str,
        finish_reason: FinishReason,
        kind: AnswerKind,
        task: TaskSpec,
        json_schema: str | None = None,
    ) -> Analysis:
        if kind is AnswerKind.NET_CODE:
            return self._code(text, finish_reason, task)
        if kind is AnswerKind.JSON:
            return self._json(text, finish_reason, json_schema)
        _, reasoning, _ = split_reasoning(text)
        return Analysis(kind, Outcome.SUCCESS, reasoning=reasoning)

    def _code(self, text: str, finish_reason: FinishReason, task: TaskSpec) -> Analysis:
        extraction = extract_code(text, finish_reason)
        findings = list(extraction.findings)
        names: tuple[HallucinatedName, ...] = ()
        warnings: tuple[Finding, ...] = ()
        if extraction.code:
            verdict = check_source(extraction.code, task.task, self.policy)
            findings += verdict.findings
            warnings = verdict.warnings
            names = hallucinated_names(verdict.findings)
        # Extraction comes first in the pipeline: its findings decide over the static ones.
        outcome = (
            extraction.findings[0].outcome if extraction.failed else Verdict.of(findings).outcome
        )
        return Analysis(
            AnswerKind.NET_CODE,
            outcome,
            content=extraction.code,
            findings=tuple(findings),
            warnings=warnings,
            hallucinated_names=names,
            reasoning=extraction.reasoning,
            extraction_rule=extraction.rule,
        )

    def _json(self, text: str, finish_reason: FinishReason, schema: str | None) -> Analysis:
        extraction, value = extract_json(text, finish_reason)
        findings = list(extraction.findings)
        if value is not None:
            findings += schema_findings(value, schema)
        outcome = findings[0].outcome if findings else Outcome.SUCCESS
        return Analysis(
            AnswerKind.JSON,
            outcome,
            content=extraction.code,
            findings=tuple(findings),
            reasoning=extraction.reasoning,
            extraction_rule=extraction.rule,
        )
