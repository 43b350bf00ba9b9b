"""Strings that Python reads as code: format templates and string annotations.

`'{0.__class__.__init__.__globals__}'.format(x)` reads attributes (str.format and
str.format_map alike), so every step of every field name is judged, nested fields in
format specs included. A string annotation is evaluated by typing.get_type_hints and by
the tools that call it, so it must be a type: names, attributes, subscripts, `|`.
"""

import ast
import re
import string
from collections.abc import Iterator

from netapi.findings import Finding
from netapi.forbidden_names import FORBIDDEN_BUILTINS, forbidden_attribute
from netapi.module_facts import ModuleFacts
from netapi.outcomes import Outcome

_FIELD_STEP = re.compile(r"[.\[]([^.\[\]]*)")  # '0.a[b].c' -> 'a', 'b', 'c'
_MAX_SPEC_DEPTH = 2  # str.format itself refuses deeper nesting
_TYPE_NODES = (
    ast.Expression,
    ast.Name,
    ast.Attribute,
    ast.Subscript,
    ast.Tuple,
    ast.List,
    ast.Constant,
    ast.Load,
    ast.BinOp,
    ast.BitOr,
)


def _field_steps(template: str, depth: int = 0) -> Iterator[str]:
    """Every attribute and key a format template reads, nested specs included."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:  # str.format refuses it too: nothing is read
        return
    for _, name, spec, _ in fields:
        if name:
            yield from _FIELD_STEP.findall(name)
        if spec and "{" in spec and depth < _MAX_SPEC_DEPTH:
            yield from _field_steps(spec, depth + 1)


def format_findings(node: ast.Constant) -> Iterator[Finding]:
    if "{" not in node.value:
        return
    for step in _field_steps(node.value):
        if reason := forbidden_attribute(step.strip()):
            yield Finding(
                "forbidden-attribute",
                Outcome.FORBIDDEN_CODE,
                f"format template field reads {step.strip()!r}: {reason}",
                node.lineno,
                node.col_offset,
            )
            return


def _annotations(facts: ModuleFacts) -> Iterator[ast.AST]:
    for node in facts.nodes:
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            yield node.annotation
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            yield node.returns


def _is_literal_type(node: ast.AST) -> bool:
    value = node.value if isinstance(node, ast.Subscript) else None
    return (isinstance(value, ast.Name) and value.id == "Literal") or (
        isinstance(value, ast.Attribute) and value.attr == "Literal"
    )


def _type_walk(tree: ast.AST) -> Iterator[ast.AST]:
    """ast.walk, except inside Literal[...], whose strings are values, never evaluated."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if _is_literal_type(node):
            stack.append(node.value)  # type: ignore[attr-defined]
        else:
            stack.extend(ast.iter_child_nodes(node))


def _not_a_type(text: str, depth: int = 0) -> str | None:
    """What in a string annotation is not part of a type expression, in words."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return "it is not an expression"
    for node in _type_walk(tree):
        if not isinstance(node, _TYPE_NODES):
            return f"it contains {type(node).__name__.lower()}"
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.BitOr):
            return "it contains an operator other than |"
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return f"it reads '.{node.attr}'"
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_BUILTINS:
            return f"it names '{node.id}'"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if depth > _MAX_SPEC_DEPTH:
                return "it nests strings too deep"
            if reason := _not_a_type(node.value, depth + 1):  # evaluated in turn
                return reason
    return None


def annotation_findings(facts: ModuleFacts) -> list[Finding]:
    """String annotations (anywhere inside an annotation) that are not type expressions."""
    findings = []
    for annotation in _annotations(facts):
        for node in _type_walk(annotation):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if reason := _not_a_type(node.value):
                findings.append(
                    Finding(
                        "string-annotation",
                        Outcome.FORBIDDEN_CODE,
                        f"a string annotation must name a type, and {reason}: "
                        "typing.get_type_hints would run it",
                        node.lineno,
                        node.col_offset,
                    )
                )
    return findings
