"""The machinery every fix rule shares: text edits at AST positions, and what a rule plans.

A rule edits the text at positions taken from the AST, so comments, formatting and every
untouched character survive (the module is never regenerated with `ast.unparse`).
"""

import ast
import builtins
import itertools
import re
from dataclasses import dataclass

from netapi.scopes import ScopeMap

# A builtin a star import shadows (`from torch import *` binds max, int...) stays the builtin:
# the shadowing is the slip, not the intent.
BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class AppliedFix:
    """One fix applied to a candidate: a rule of FIX_RULES and what exactly it changed."""

    rule: str
    detail: str  # e.g. "import torch.nn.functional as F" or "'dropout'"

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "detail": self.detail}


@dataclass(frozen=True)
class Edit:
    """Replace code[start:end] (character offsets) with text; start == end inserts."""

    start: int
    end: int
    text: str


# What a rule plans: each fix with the edits that make it.
Plan = list[tuple[AppliedFix, list[Edit]]]


class Source:
    """A parsed module, and the character offsets of positions in its text."""

    def __init__(self, code: str, tree: ast.Module) -> None:
        self.code = code
        self.tree = tree
        self._line_starts = [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", code))]

    def offset(self, line: int, column: int) -> int:
        """The character offset of an AST position (its column counts UTF-8 bytes)."""
        start = self._line_starts[line - 1]
        line_text = self.code[start : self._line_end(line)]
        prefix = line_text.encode("utf-8", "surrogatepass")[:column]
        return start + len(prefix.decode("utf-8", "surrogatepass"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset(node.lineno, node.col_offset)
        return start, self.offset(node.end_lineno, node.end_col_offset)

    def text(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.code[start:end]

    def replace(self, node: ast.AST, text: str) -> Edit:
        return Edit(*self.span(node), text)

    def lines(self, first: int, last: int) -> str:
        """Lines first..last, as written, with their line ends."""
        return self.code[self._line_starts[first - 1] : self._line_end(last)]

    def insert_before_line(self, line: int, text: str) -> Edit:
        start = self._line_starts[line - 1]
        return Edit(start, start, text)

    def insert_after_line(self, line: int, text: str) -> Edit:
        end = self._line_end(line)
        if not self.code[:end].endswith(("\n", "\r")):
            text = "\n" + text  # the last line has no line end of its own
        return Edit(end, end, text)

    def _line_end(self, line: int) -> int:
        return self._line_starts[line] if line < len(self._line_starts) else len(self.code)


def edited(code: str, edits: list[Edit]) -> str | None:
    """The code with the edits applied from the end backwards; None when two overlap."""
    ordered = sorted(edits, key=lambda edit: (edit.start, edit.end))
    if any(first.end > second.start for first, second in itertools.pairwise(ordered)):
        return None
    for edit in reversed(ordered):
        code = code[: edit.start] + edit.text + code[edit.end :]
    return code


def free_names(tree: ast.Module) -> set[str]:
    """Names read but bound nowhere in the module (netapi's scope map), builtins excepted."""
    bound = ScopeMap(tree).bound_anywhere
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
        and isinstance(node.ctx, ast.Load)
        and node.id not in bound
        and node.id not in BUILTINS
    }


def leading(tree: ast.Module) -> ast.stmt | None:
    """The last of the module's leading docstring and imports; None when it has neither."""
    last = None
    for position, node in enumerate(tree.body):
        docstring = position == 0 and isinstance(node, ast.Expr)
        if isinstance(node, ast.Import | ast.ImportFrom) or (
            docstring and isinstance(node.value, ast.Constant)
        ):
            last = node
        else:
            break
    return last


def insert_top_level(source: Source, text: str, *, blank_lines: int) -> Edit:
    """Insert top-level lines after the leading imports (``blank_lines`` before them), else
    before the first statement (two blank lines after them)."""
    gap = "\n" * blank_lines
    after = leading(source.tree)
    if isinstance(after, ast.Expr):  # a docstring alone: a blank line between it and the text
        gap = gap or "\n"
    if after is not None:
        return source.insert_after_line(after.end_lineno, f"{gap}{text}\n")
    first = source.tree.body[0]
    decorators = getattr(first, "decorator_list", [])
    line = min([first.lineno, *(d.lineno for d in decorators)])
    return source.insert_before_line(line, f"{text}\n\n\n")


def sharing_one_edit(fixes: list[AppliedFix], edits: list[Edit]) -> Plan:
    """Several fixes made by the same edits: the first carries them."""
    return [(fix, edits if index == 0 else []) for index, fix in enumerate(fixes)]


def deletion(source: Source, node: ast.stmt) -> Edit | None:
    """Delete a statement's lines, when nothing else shares them."""
    whole = source.lines(node.lineno, node.end_lineno)
    if whole.strip() != source.text(node).strip():
        return None
    start = source.offset(node.lineno, 0)
    return Edit(start, start + len(whole), "")


def body_start(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.stmt:
    """The first statement after the docstring (the docstring when it is all there is)."""
    body = function.body
    docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    return body[1] if docstring and len(body) > 1 else body[0]
