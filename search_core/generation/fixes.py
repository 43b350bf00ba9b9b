"""Deterministic fixes of the mechanical slips a small LLM makes, applied before the sandbox.

Like a linter's `--fix`: each rule edits the text at positions taken from the AST, so comments,
formatting and every untouched character survive (the module is never regenerated with
`ast.unparse`). Fixes are never silent: `apply_fixes` returns every fix it applied, and the
caller stores them on the candidate. An unparseable module comes back unchanged, a rule whose
edits would not parse is dropped whole, and fixed code fixes to itself with nothing recorded.
"""

import ast
import builtins
import importlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from netapi.api_contract import (
    batch_as_channels,
    batch_size_bindings,
    declared_hyperparameters,
    in_shape_parameter,
    literal_names,
    net_methods,
    prm_subscript_keys,
)
from netapi.forbidden_names import forbidden_dotted
from netapi.parsing import parse_candidate
from netapi.scopes import ScopeMap
from netapi.static_check import DEFAULT_POLICY
from netapi.tasks import RESERVED_PRM_KEYS
from search_core.engine.feedback import (
    DEFAULT_HYPERPARAMETERS,
    FALLBACK_VALUE,
    proposed_hyperparameters,
)

FIX_RULES = (
    "star-import",
    "missing-import",
    "hyperparameters-function",
    "hyperparameters-from-parent",
    "undeclared-hyperparameter",
    "criterion-to-criteria",
    "in-shape-channels",
)

SUPPORTED = "supported_hyperparameters"

# Conventional aliases and the import that binds each.
_ALIAS_IMPORTS = {
    "torch": "import torch",
    "nn": "import torch.nn as nn",
    "F": "import torch.nn.functional as F",
    "optim": "import torch.optim as optim",
    "math": "import math",
    "collections": "import collections",
    "functools": "import functools",
    "itertools": "import itertools",
    "typing": "import typing",
}
# Allowed standard-library modules whose names a model uses bare (`Optional`, `partial`); a
# name two of them export comes from the first (collections' OrderedDict, not typing's).
_BARE_NAME_MODULES = (
    "collections",
    "functools",
    "itertools",
    "typing",
    "dataclasses",
    "numbers",
    "math",
)
_TORCH_BARE_NAMES = {"Tensor": "torch"}
# A builtin a star import shadows (`from torch import *` binds max, int...) stays the builtin:
# the shadowing is the slip, not the intent.
_BUILTINS = frozenset(dir(builtins))
# Variables that hold a channel count: `c = in_shape[0]` is the slip `in_shape[1]` fixes.
_CHANNEL_NAME = re.compile(r"^(c|nc|in_?c|in_?planes)$|(^|_)(ch|chs|chans?|channels?)(_|$)")


@dataclass(frozen=True)
class AppliedFix:
    """One fix applied to a candidate: a rule of FIX_RULES and what exactly it changed."""

    rule: str
    detail: str  # e.g. "import torch.nn.functional as F" or "'dropout'"

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "detail": self.detail}


@dataclass(frozen=True)
class Fixed:
    """The code after the fixes, and the fixes in the order they were applied."""

    code: str
    fixes: tuple[AppliedFix, ...]


@dataclass(frozen=True)
class _Edit:
    """Replace code[start:end] (character offsets) with text; start == end inserts."""

    start: int
    end: int
    text: str


# What a rule plans: each fix with the edits that make it.
_Plan = list[tuple[AppliedFix, list[_Edit]]]


class _Source:
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

    def replace(self, node: ast.AST, text: str) -> _Edit:
        return _Edit(*self.span(node), text)

    def lines(self, first: int, last: int) -> str:
        """Lines first..last, as written, with their line ends."""
        return self.code[self._line_starts[first - 1] : self._line_end(last)]

    def insert_before_line(self, line: int, text: str) -> _Edit:
        start = self._line_starts[line - 1]
        return _Edit(start, start, text)

    def insert_after_line(self, line: int, text: str) -> _Edit:
        end = self._line_end(line)
        if not self.code[:end].endswith(("\n", "\r")):
            text = "\n" + text  # the last line has no line end of its own
        return _Edit(end, end, text)

    def _line_end(self, line: int) -> int:
        return self._line_starts[line] if line < len(self._line_starts) else len(self.code)


def apply_fixes(code: str, parent_code: str = "") -> Fixed:
    """Apply every rule, in FIX_RULES order, to ``code``; ``parent_code`` is the parent model's."""
    applied: list[AppliedFix] = []
    for rule in _RULES:
        tree = parse_candidate(code).tree
        if tree is None:
            break
        plan = rule(_Source(code, tree), parent_code)
        fixed = _edited(code, [edit for _, edits in plan for edit in edits])
        if fixed is None or fixed == code or parse_candidate(fixed).tree is None:
            continue  # a rule that would break the module is dropped whole
        code = fixed
        applied.extend(fix for fix, _ in plan)
    return Fixed(code, tuple(applied))


def _edited(code: str, edits: list[_Edit]) -> str | None:
    """The code with the edits applied from the end backwards; None when two overlap."""
    ordered = sorted(edits, key=lambda edit: (edit.start, edit.end))
    if any(first.end > second.start for first, second in itertools.pairwise(ordered)):
        return None
    for edit in reversed(ordered):
        code = code[: edit.start] + edit.text + code[edit.end :]
    return code


# --- names -------------------------------------------------------------------------------


def _free_names(tree: ast.Module) -> set[str]:
    """Names read but bound nowhere in the module (netapi's scope map), builtins excepted."""
    bound = ScopeMap(tree).bound_anywhere
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
        and isinstance(node.ctx, ast.Load)
        and node.id not in bound
        and node.id not in _BUILTINS
    }


@cache
def _exported_names(module: str) -> frozenset[str]:
    """What `from module import *` binds, read from the real module (empty if not importable)."""
    try:
        loaded = importlib.import_module(module)
    except ImportError:
        return frozenset()
    names = getattr(loaded, "__all__", None)
    if names is None:
        names = [name for name in dir(loaded) if not name.startswith("_")]
    return frozenset(names)


@cache
def _bare_name_modules() -> dict[str, str]:
    """Bare name -> the allowed standard-library module it comes from (`partial` -> functools)."""
    found = dict(_TORCH_BARE_NAMES)
    for module in _BARE_NAME_MODULES:
        for name in _exported_names(module):
            if len(name) > 1 and not forbidden_dotted(f"{module}.{name}"):  # `e`: ambiguous
                found.setdefault(name, module)
    return found


def _leading(tree: ast.Module) -> ast.stmt | None:
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


def _insert_top_level(source: _Source, text: str, *, blank_lines: int) -> _Edit:
    """Insert top-level lines after the leading imports (``blank_lines`` before them), else
    before the first statement (two blank lines after them)."""
    gap = "\n" * blank_lines
    after = _leading(source.tree)
    if isinstance(after, ast.Expr):  # a docstring alone: a blank line between it and the text
        gap = gap or "\n"
    if after is not None:
        return source.insert_after_line(after.end_lineno, f"{gap}{text}\n")
    first = source.tree.body[0]
    decorators = getattr(first, "decorator_list", [])
    line = min([first.lineno, *(d.lineno for d in decorators)])
    return source.insert_before_line(line, f"{text}\n\n\n")


def _sharing_one_edit(fixes: list[AppliedFix], edits: list[_Edit]) -> _Plan:
    """Several fixes made by the same edits: the first carries them."""
    return [(fix, edits if index == 0 else []) for index, fix in enumerate(fixes)]


# --- rules -------------------------------------------------------------------------------


def _star_imports(source: _Source, parent_code: str) -> _Plan:
    """`from typing import *` -> an explicit import of the names the module uses from it."""
    stars = sorted(
        (
            node
            for node in ast.walk(source.tree)
            if isinstance(node, ast.ImportFrom)
            and node.module
            and not node.level
            and any(alias.name == "*" for alias in node.names)
            and DEFAULT_POLICY.allows(node.module)  # a forbidden module is the checker's
        ),
        key=lambda node: (node.lineno, node.col_offset),
    )
    free = _free_names(source.tree)
    plan: _Plan = []
    for position, node in enumerate(stars):
        exported = _exported_names(node.module)
        if not exported:
            continue  # e.g. torch is not installed here: leave it to the checker
        later = set().union(*(_exported_names(n.module) for n in stars[position + 1 :]))
        used = sorted((free & exported) - later)  # the last star import binds a name
        if used:
            statement = f"from {node.module} import {', '.join(used)}"
            plan.append((AppliedFix("star-import", statement), [source.replace(node, statement)]))
        elif edit := _deletion(source, node):
            unused = AppliedFix("star-import", f"unused 'from {node.module} import *'")
            plan.append((unused, [edit]))
    return plan


def _deletion(source: _Source, node: ast.stmt) -> _Edit | None:
    """Delete a statement's lines, when nothing else shares them."""
    whole = source.lines(node.lineno, node.end_lineno)
    if whole.strip() != source.text(node).strip():
        return None
    start = source.offset(node.lineno, 0)
    return _Edit(start, start + len(whole), "")


def _missing_imports(source: _Source, parent_code: str) -> _Plan:
    """A conventional alias or a stdlib name used but never bound -> its import."""
    free = _free_names(source.tree)
    statements = [_ALIAS_IMPORTS[name] for name in _ALIAS_IMPORTS if name in free]
    by_module: dict[str, list[str]] = {}
    for name in sorted(free - set(_ALIAS_IMPORTS)):
        if module := _bare_name_modules().get(name):
            by_module.setdefault(module, []).append(name)
    statements += [f"from {m} import {', '.join(names)}" for m, names in sorted(by_module.items())]
    if not statements:
        return []
    edit = _insert_top_level(source, "\n".join(statements), blank_lines=0)
    return _sharing_one_edit([AppliedFix("missing-import", s) for s in statements], [edit])


def _module_function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return found[-1] if found else None


def _module_assignment(tree: ast.Module, name: str) -> ast.Assign | ast.AnnAssign | None:
    """The first top-level `name = value` (annotated or not)."""
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return node
    return None


def _names_literal(node: ast.expr | None) -> bool:
    """A literal collection of strings, as supported_hyperparameters() may return."""
    return node is not None and literal_names(node) is not None


def _as_set(source: _Source, value: ast.expr) -> str:
    """The literal's text, as a set when it was a list or tuple."""
    if not isinstance(value, ast.List | ast.Tuple):
        return source.text(value)
    elements = [source.text(element) for element in value.elts]
    return "{" + ", ".join(elements) + "}" if elements else "set()"


def _hyperparameters_function(source: _Source, parent_code: str) -> _Plan:
    """A supported_hyperparameters() that is not a top-level function returning a literal."""
    tree = source.tree
    function = _module_function(tree, SUPPORTED)
    if function is not None:
        return _literal_return(source, function)
    assignment = _module_assignment(tree, SUPPORTED)
    if assignment is not None:
        return _assignment_to_function(source, assignment)
    method = net_methods(tree).get(SUPPORTED)
    if method is None or declared_hyperparameters(method) is None:
        return []
    returned = next(n.value for n in ast.walk(method) if isinstance(n, ast.Return))
    text = f"def {SUPPORTED}():\n    return {_as_set(source, returned)}"
    fix = AppliedFix("hyperparameters-function", f"module-level {SUPPORTED}() from Net's method")
    return [(fix, [_insert_top_level(source, text, blank_lines=2)])]


def _assignment_to_function(source: _Source, assignment: ast.Assign | ast.AnnAssign) -> _Plan:
    """`supported_hyperparameters = {...}` -> a function returning that set."""
    if not _names_literal(assignment.value) or assignment.col_offset != 0:
        return []
    text = f"def {SUPPORTED}():\n    return {_as_set(source, assignment.value)}"
    edits = [source.replace(assignment, text)]
    called = {id(n.func) for n in ast.walk(source.tree) if isinstance(n, ast.Call)}
    for node in ast.walk(source.tree):  # reads of the old variable now call the function
        if isinstance(node, ast.Name) and node.id == SUPPORTED and id(node) not in called:
            if isinstance(node.ctx, ast.Load):
                edits.append(source.replace(node, f"{SUPPORTED}()"))
    fix = AppliedFix("hyperparameters-function", f"{SUPPORTED} = ... -> def {SUPPORTED}()")
    return [(fix, edits)]


def _literal_return(source: _Source, function: ast.FunctionDef) -> _Plan:
    """`return names` (a set bound to a variable) or a bare set, no return -> `return {...}`."""
    if declared_hyperparameters(function) is not None:
        return []
    returns = [node for node in ast.walk(function) if isinstance(node, ast.Return)]
    fix = AppliedFix("hyperparameters-function", f"{SUPPORTED}() returns a literal set")
    if not returns:
        bare = [s for s in function.body if isinstance(s, ast.Expr) and _names_literal(s.value)]
        if not bare:
            return []
        return [(fix, [source.replace(bare[-1], f"return {source.text(bare[-1])}")])]
    if len(returns) != 1 or not isinstance(returns[0].value, ast.Name):
        return []
    name = returns[0].value.id
    bound = _assigned_literal(function, name) or _module_assignment(source.tree, name)
    if bound is None or not _names_literal(bound.value):
        return []
    return [(fix, [source.replace(returns[0].value, _as_set(source, bound.value))])]


def _assigned_literal(function: ast.FunctionDef, name: str) -> ast.Assign | None:
    """The one assignment `name = ...` in the function, if it is the only one."""
    found = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
    ]
    return found[0] if len(found) == 1 else None


def _prm_keys_read(tree: ast.Module) -> set[str]:
    """Keys read as prm['k'] (netapi's rule) or prm.get('k'[, number]), self.prm included.

    `prm.get('act', 'relu')` is left out: a key with a default that is not a number is not
    a hyperparameter in [0, 1], and declaring it would hand the model a number for it.
    """
    nodes = tuple(ast.walk(tree))
    keys = {key for key, _ in prm_subscript_keys(nodes)}
    for node in nodes:
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            continue
        owner = node.func.value
        owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
        default = node.args[1] if len(node.args) > 1 else None
        if owner_name == "prm" and (default is None or _is_number(default)):
            keys.add(node.args[0].value)
    return keys - RESERVED_PRM_KEYS


def _is_number(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        node = node.operand
    value = getattr(node, "value", None) if isinstance(node, ast.Constant) else None
    return isinstance(value, int | float) and not isinstance(value, bool)


def _hyperparameters_from_parent(source: _Source, parent_code: str) -> _Plan:
    """No supported_hyperparameters at all -> the parent's (if a literal), else the keys read."""
    tree = source.tree
    if _module_function(tree, SUPPORTED) or _module_assignment(tree, SUPPORTED):
        return []
    if not net_methods(tree):
        return []  # not a model (prose, a JSON document): nothing to declare for
    parent = parse_candidate(parent_code).tree if parent_code.strip() else None
    inherited = _module_function(parent, SUPPORTED) if parent is not None else None
    if inherited is not None and declared_hyperparameters(inherited) is not None:
        first = min([inherited.lineno, *(d.lineno for d in inherited.decorator_list)])
        text = _Source(parent_code, parent).lines(first, inherited.end_lineno).rstrip()
        detail = "copied from the parent"
    else:
        keys = sorted(_prm_keys_read(tree))
        names = "{" + ", ".join(map(repr, keys)) + "}" if keys else "set()"
        text = f"def {SUPPORTED}():\n    return {names}"
        detail = f"built from the prm keys read: {names}"
    fix = AppliedFix("hyperparameters-from-parent", detail)
    return [(fix, [_insert_top_level(source, text, blank_lines=2)])]


def _undeclared_hyperparameters(source: _Source, parent_code: str) -> _Plan:
    """prm keys read but not declared -> added to the returned set and to HYPERPARAMETERS."""
    function = _module_function(source.tree, SUPPORTED)
    declared = declared_hyperparameters(function) if function is not None else None
    if declared is None:
        return []
    missing = sorted(_prm_keys_read(source.tree) - declared)
    if not missing:
        return []
    returned = next(n.value for n in ast.walk(function) if isinstance(n, ast.Return))
    edits = [_added_elements(source, returned, missing)]
    edits += _proposed_values(source, missing, parent_code)
    fixes = [AppliedFix("undeclared-hyperparameter", repr(key)) for key in missing]
    return _sharing_one_edit(fixes, edits)


def _quoted(key: str, like: str) -> str:
    quote = '"' if like.startswith('"') else "'"
    return f"{quote}{key}{quote}" if key.isidentifier() else repr(key)


def _added_elements(source: _Source, returned: ast.expr, keys: list[str]) -> _Edit:
    """Edit the returned literal (a set, list, tuple or set(...) call) to hold ``keys`` too."""
    collection = returned
    if isinstance(returned, ast.Call):
        collection = returned.args[0] if returned.args else None
    elements = collection.elts if collection is not None else []
    if not elements:
        return source.replace(returned, "{" + ", ".join(map(repr, keys)) + "}")
    last = elements[-1]
    added = "".join(f", {_quoted(key, source.text(last))}" for key in keys)
    end = source.span(last)[1]
    return _Edit(end, end, added)


def _proposed_values(source: _Source, keys: list[str], parent_code: str) -> list[_Edit]:
    """New keys in a module-level `HYPERPARAMETERS = {...}` literal, when there is one.

    The value is the parent's proposal for that key, else the value the search trains an
    unproposed hyperparameter with (search_core.engine.feedback: lr 0.01, momentum 0.9,
    dropout 0.2, else 0.5), so the proposal says what would happen anyway.
    """
    literal = _module_assignment(source.tree, "HYPERPARAMETERS")
    if literal is None or not isinstance(literal.value, ast.Dict):
        return []
    keys_written = literal.value.keys
    if not all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in keys_written):
        return []  # a `**spread` or a computed key: not ours to edit
    present = {k.value for k in keys_written}
    parents = proposed_hyperparameters(parent_code) if parent_code else {}
    entries = [
        f"{key!r}: {parents.get(key, DEFAULT_HYPERPARAMETERS.get(key, FALLBACK_VALUE))!r}"
        for key in keys
        if key not in present
    ]
    if not entries:
        return []
    if not literal.value.values:
        return [source.replace(literal.value, "{" + ", ".join(entries) + "}")]
    end = source.span(literal.value.values[-1])[1]
    return [_Edit(end, end, "".join(f", {entry}" for entry in entries))]


def _self_attributes(tree: ast.Module, name: str) -> list[ast.Attribute]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == name
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ]


def _criterion_to_criteria(source: _Source, parent_code: str) -> _Plan:
    """`self.criterion = X` (and no self.criteria) -> `self.criteria = (X,)`, reads -> [0]."""
    tree = source.tree
    uses = _self_attributes(tree, "criterion")
    if not uses or _self_attributes(tree, "criteria"):
        return []
    assignments = {
        id(node.targets[0]): node
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and len(node.targets) == 1
    }
    stores = [use for use in uses if not isinstance(use.ctx, ast.Load)]
    if not stores or any(id(store) not in assignments for store in stores):
        return []  # `self.criterion += ...`, `del`, unpacking: not this slip
    values = [assignments[id(store)].value for store in stores]
    if all(isinstance(value, ast.Tuple) for value in values):
        edits = [source.replace(use, "self.criteria") for use in uses]
    elif not any(isinstance(value, ast.Tuple) for value in values):
        edits = [source.replace(store, "self.criteria") for store in stores]
        edits += [source.replace(value, f"({source.text(value)},)") for value in values]
        reads = [use for use in uses if isinstance(use.ctx, ast.Load)]
        edits += [source.replace(read, "self.criteria[0]") for read in reads]
    else:
        return []
    return [(AppliedFix("criterion-to-criteria", "self.criterion -> self.criteria"), edits)]


def _in_shape_channels(source: _Source, parent_code: str) -> _Plan:
    """in_shape[0] (the batch size) used as the channel count -> in_shape[1]."""
    init = net_methods(source.tree).get("__init__")
    in_shape = in_shape_parameter(init) if init is not None else None
    if in_shape is None:
        return []
    reads = {id(read): read for slip in batch_as_channels(init) for read in slip.reads}
    for name, bound in batch_size_bindings(init, in_shape).items():
        if _CHANNEL_NAME.search(name):  # `channels = in_shape[0]`, used or not by a layer
            reads.update((id(read), read) for read in bound)
    return [
        (
            AppliedFix("in-shape-channels", f"{in_shape}[0] -> {in_shape}[1] (line {read.lineno})"),
            [source.replace(read.slice, "1")],
        )
        for read in sorted(reads.values(), key=lambda read: (read.lineno, read.col_offset))
    ]


_RULES: tuple[Callable[[_Source, str], _Plan], ...] = (
    _star_imports,
    _missing_imports,
    _hyperparameters_function,
    _hyperparameters_from_parent,
    _undeclared_hyperparameters,
    _criterion_to_criteria,
    _in_shape_channels,
)
