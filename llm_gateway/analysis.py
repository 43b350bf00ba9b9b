"""Judge an answer without running it: extract, run netapi's static checks, name the hallucinations.

The static checks and the name resolver are netapi's, with the name index of the sandbox
image (var/torch_index.json), so the gateway judges torch names exactly as the sandbox's
torch would, without torch installed here. For each hallucinated_api finding the resolver is
asked again, at the finding's place in the code, which names it was about; those are the
`hallucinated_names` of the response (a module, an attribute, or a keyword).
"""

import ast
import warnings
from collections.abc import Iterator

from llm_gateway.domain import (
    Analysis,
    AnswerKind,
    FinishReason,
    HallucinatedName,
    HallucinationKind,
)
from llm_gateway.extraction import extract_code, split_reasoning
from llm_gateway.json_answers import extract_json, schema_findings
from netapi.code_policy import CodePolicy
from netapi.findings import Finding, Verdict
from netapi.module_facts import dotted_name, import_aliases
from netapi.name_index import Resolution
from netapi.outcomes import Outcome
from netapi.static_check import check_source
from netapi.tasks import TaskSpec


def _nodes_at(tree: ast.Module, line: int, column: int) -> list[ast.AST]:
    return [
        node
        for node in ast.walk(tree)
        if getattr(node, "lineno", None) == line and getattr(node, "col_offset", None) == column
    ]


def _names_of(finding: Finding, tree: ast.Module, policy: CodePolicy) -> Iterator[HallucinatedName]:
    """The names behind one hallucinated_api finding, asked of the same resolver."""
    aliases = import_aliases(tree)
    index = policy.index
    for node in _nodes_at(tree, finding.line, finding.column):
        if finding.rule == "unknown-module" and isinstance(node, ast.Import):
            for alias in node.names:
                if not policy.module_exists(alias.name):
                    yield HallucinatedName(HallucinationKind.MODULE, alias.name, finding.line)
        elif finding.rule == "unknown-module" and isinstance(node, ast.ImportFrom):
            if node.module and not policy.module_exists(node.module):
                yield HallucinatedName(HallucinationKind.MODULE, node.module, finding.line)
        elif finding.rule == "unknown-name" and index is not None:
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    dotted = f"{node.module}.{alias.name}"
                    if index.resolve(dotted) is Resolution.MISSING:
                        yield HallucinatedName(HallucinationKind.ATTRIBUTE, dotted, finding.line)
            elif isinstance(node, ast.Attribute):
                dotted = dotted_name(node, aliases)
                if dotted and index.resolve(dotted) is Resolution.MISSING:
                    yield HallucinatedName(HallucinationKind.ATTRIBUTE, dotted, finding.line)
        elif finding.rule == "unknown-keyword" and index is not None and isinstance(node, ast.Call):
            callee = dotted_name(node.func, aliases)
            keywords = [keyword.arg for keyword in node.keywords if keyword.arg]
            if callee:
                for keyword in index.rejected_keywords(callee, keywords):
                    name = f"{callee}({keyword}=)"
                    yield HallucinatedName(HallucinationKind.KEYWORD, name, finding.line)


def hallucinated_names(
    code: str, findings: tuple[Finding, ...], policy: CodePolicy
) -> tuple[HallucinatedName, ...]:
    """The distinct names behind the hallucinated_api findings of ``code``."""
    relevant = [f for f in findings if f.outcome is Outcome.HALLUCINATED_API]
    if not relevant:
        return ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(code)  # the checks parsed it already
    names: dict[tuple[str, str], HallucinatedName] = {}
    for finding in relevant:
        for name in _names_of(finding, tree, policy):
            names.setdefault((name.kind, name.name), name)
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
        if extraction.code:
            verdict = check_source(extraction.code, task.task, self.policy)
            findings += verdict.findings
            names = hallucinated_names(extraction.code, verdict.findings, self.policy)
        # Extraction comes first in the pipeline: its findings decide over the static ones.
        outcome = (
            extraction.findings[0].outcome if extraction.failed else Verdict.of(findings).outcome
        )
        return Analysis(
            AnswerKind.NET_CODE,
            outcome,
            content=extraction.code,
            findings=tuple(findings),
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
