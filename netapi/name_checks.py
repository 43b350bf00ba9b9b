"""Hallucinated names found statically: torch attributes and keyword arguments that do not exist.

Judged against the sandbox image's name index (netapi.name_index), through the module's
import aliases, so `import torch.nn as nn; nn.Swish()` is caught as `torch.nn.Swish`.
"""

import ast
from collections.abc import Iterator

from netapi.findings import Finding
from netapi.module_facts import ModuleFacts, dotted_name
from netapi.name_index import NameIndex, Resolution
from netapi.outcomes import Outcome


def _outermost_attributes(nodes: tuple[ast.AST, ...]) -> Iterator[ast.Attribute]:
    attributes = [node for node in nodes if isinstance(node, ast.Attribute)]
    inner = {id(node.value) for node in attributes}
    return (node for node in attributes if id(node) not in inner)


def _missing(index: NameIndex, dotted: str) -> bool:
    return index.resolve(dotted) is Resolution.MISSING


def _unknown_name(dotted: str, node: ast.AST, index: NameIndex) -> Finding:
    return Finding(
        "unknown-name",
        Outcome.HALLUCINATED_API,
        f"'{dotted}' does not exist in torch {index.torch_version}",
        node.lineno,
        node.col_offset,
        subject=dotted,
    )


def name_findings(facts: ModuleFacts, index: NameIndex) -> list[Finding]:
    """Every imported, referenced or called torch name, and keyword, that the index lacks."""
    aliases = facts.aliases
    findings: list[Finding] = []
    for node in facts.nodes:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if alias.name != "*" and _missing(index, dotted):
                    findings.append(_unknown_name(dotted, node, index))
        elif isinstance(node, ast.Call):
            callee = dotted_name(node.func, aliases)
            keywords = [keyword.arg for keyword in node.keywords if keyword.arg]
            if callee is None or not keywords:
                continue
            for keyword in index.rejected_keywords(callee, keywords):
                findings.append(
                    Finding(
                        "unknown-keyword",
                        Outcome.HALLUCINATED_API,
                        f"{callee}() has no keyword argument '{keyword}' in torch "
                        f"{index.torch_version}",
                        node.lineno,
                        node.col_offset,
                        subject=f"{callee}({keyword}=)",
                    )
                )
    for node in _outermost_attributes(facts.nodes):
        dotted = dotted_name(node, aliases)
        if dotted is not None and _missing(index, dotted):
            findings.append(_unknown_name(dotted, node, index))
    return findings
