"""Hallucinated torch and torchvision names and keyword arguments, found statically.

Judged against the sandbox image's name index (netapi.name_index), through the module's
import aliases, so `import torch.nn as nn; nn.Swish()` is caught as `torch.nn.Swish`. The
message names the library the name was looked up in, with the image's version of it.
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
        f"'{dotted}' does not exist in {index.library(dotted)}",
        node.lineno,
        node.col_offset,
        subject=dotted,
    )


def name_findings(facts: ModuleFacts, index: NameIndex) -> list[Finding]:
    """Every imported, referenced or called indexed name, and keyword, that the index lacks."""
    aliases = facts.aliases
    findings: list[Finding] = []
    for node in facts.nodes:
        if isinstance(node, ast.Import):  # `import torchvision.models.resnet50x`
            for alias in node.names:
                if _missing(index, alias.name):
                    findings.append(_unknown_name(alias.name, node, index))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
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
                        f"{callee}() has no keyword argument '{keyword}' in "
                        f"{index.library(callee)}",
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
