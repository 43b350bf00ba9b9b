"""The static checker: read a candidate with `ast` (never import or run it) and give a verdict."""

from netapi.api_contract import api_contract_findings
from netapi.code_policy import CodePolicy, code_policy_findings
from netapi.findings import Finding, Verdict
from netapi.module_facts import ModuleFacts
from netapi.name_checks import name_findings
from netapi.outcomes import MAX_CANDIDATE_BYTES, Outcome
from netapi.parsing import parse_candidate
from netapi.tasks import IMG_CAPTIONING, TASKS, TaskSpecError

DEFAULT_POLICY = CodePolicy()


def check_source(source: str, task: str, policy: CodePolicy = DEFAULT_POLICY) -> Verdict:
    """All static findings for ``source`` as a candidate for ``task``, and the deciding outcome."""
    if task not in TASKS:
        raise TaskSpecError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if len(source.encode("utf-8", errors="surrogatepass")) > MAX_CANDIDATE_BYTES:
        return Verdict.of(
            [
                Finding(
                    "too-long",
                    Outcome.API_NONCOMPLIANCE,
                    f"the candidate is over {MAX_CANDIDATE_BYTES} bytes",
                )
            ]
        )
    parsed = parse_candidate(source)
    if parsed.tree is None:
        return Verdict.of([parsed.finding])
    facts = ModuleFacts.of(parsed.tree)
    findings = code_policy_findings(facts, policy)
    if policy.index is not None:
        findings += name_findings(facts, policy.index)
    findings += api_contract_findings(facts, captioning=task == IMG_CAPTIONING)
    return Verdict.of(findings)
