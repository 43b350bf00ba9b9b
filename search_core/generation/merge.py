"""Merge an LLM's "edit" answer into its parent model, so that every candidate is one whole module.

The framework owns the contract, the model writes the architecture. A model shown a parent Net API
module answers with only what changes: new or changed classes, and ``class Net`` with only the
methods it changes, plus the imports its new code needs. This module puts that answer back into
the parent, at the level of top-level statements and Net members, from source text (comments and
formatting of both survive; nothing is re-printed from the AST but a trimmed import):

- imports: the parent's, then each import of the answer that binds something new;
- a class, function or assignment of the answer replaces the parent's of the same name in place;
  new ones go, in the answer's order, before the first parent statement that uses them (else
  before ``class Net``, else at the end);
- ``class Net``: the answer's methods and class attributes replace the parent's of the same name,
  the parent's others (``train_setup``, ``learn``, ...) stay, new ones are appended; the answer's
  header wins when it names bases or decorators. A complete answer Net (``__init__``, ``forward``,
  ``train_setup``, ``learn``) replaces the parent's outright. Top-level ``def f(self, ...)`` is a
  Net method whose class line the model dropped;
- a stub (``...``, ``pass``, a docstring, ``raise NotImplementedError``) standing for a parent
  definition means "unchanged": the parent's stays;
- a definition the answer copies unchanged (the same AST) counts as kept, in the parent's text:
  ``replaced`` and ``added`` show what the model really changed;
- other top-level statements of the answer (a demo ``print(Net(...))``, a ``__main__`` block,
  an assignment that replaces nothing and that nothing reads, such as ``model = Net(...)``)
  are dropped.

An answer that is a whole module (``supported_hyperparameters`` and a complete Net) is taken as
it is; from the parent it receives only definitions and imports it uses but does not define.
"""

from __future__ import annotations

import ast
import copy
import symtable
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from itertools import pairwise

NET = "Net"
NET_API_METHODS = frozenset({"__init__", "forward", "train_setup", "learn"})
DEFAULT_NET_HEADER = "class Net(nn.Module):"
INDENT = "    "
_DEFINITIONS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_IMPORTS = (ast.Import, ast.ImportFrom)


class NotMergeable(ValueError):
    """The answer does not parse, or holds nothing to merge (no class, no function)."""


@dataclass(frozen=True)
class Merged:
    """A whole candidate module, and which definitions came from where."""

    code: str
    whole_module: bool  # the answer was already a complete module
    replaced: tuple[str, ...]  # parent definitions the answer replaced: "Net.forward", "Block"
    added: tuple[str, ...]  # new definitions: "SEBlock"
    kept: tuple[str, ...]  # parent definitions taken over unchanged: "Net.learn", "CONFIG"


@dataclass(frozen=True)
class _Part:
    """One statement (or the merged Net): the name it defines, its dedented text, its origin."""

    key: str  # "Block", "CONFIG", "Net", "forward" (a member); "" for imports and the like
    text: str
    node: ast.AST | None
    from_answer: bool
    members: tuple[_Part, ...] = ()  # the members of a merged Net
    spaced: bool = False  # a blank line stood above it in its own source


@dataclass(frozen=True)
class _Net:
    """A ``class Net``: its header (comments, decorators, class line) and its members."""

    header: str
    node: ast.ClassDef | None  # None when the model gave bare methods only
    members: tuple[_Part, ...]

    @property
    def custom_header(self) -> bool:
        node = self.node
        return node is not None and bool(node.bases or node.keywords or node.decorator_list)

    @property
    def complete(self) -> bool:
        real = {m.key for m in self.members if isinstance(m.node, _FUNCTIONS) and not _stub(m)}
        return NET_API_METHODS <= real


@dataclass(frozen=True)
class _Module:
    """A module read into parts: its docstring, its statements in order (Net as one part)."""

    doc: _Part | None
    parts: tuple[_Part, ...]
    net: _Net | None


def merge_into_parent(parent: str, answer: str) -> Merged:
    """The answer merged into the parent; ValueError if the parent does not parse."""
    try:
        parent_module = _read_module(*_parse(parent), from_answer=False)
    except (SyntaxError, ValueError) as err:
        raise ValueError(f"the parent does not parse: {err}") from err
    lines, tree = _parse_answer(answer)
    answer_module = _read_module(lines, tree, from_answer=True)
    answer_module = _without_demo_assignments(answer_module, "\n".join(lines), parent_module)
    if not any(p.key == NET or isinstance(p.node, _DEFINITIONS) for p in answer_module.parts):
        raise NotMergeable("the answer defines no class and no function")
    whole = _is_whole(answer_module)
    assemble = _assemble_whole if whole else _assemble_edit
    parts = assemble(parent_module, answer_module)
    doc = answer_module.doc or parent_module.doc
    code = _join([doc, *parts] if doc else parts, _module_gap) + "\n"
    try:
        ast.parse(code)
    except SyntaxError as err:  # the answer's own text can still break a rebuilt class
        message = f"the merged module does not parse: {err.msg} (line {err.lineno})"
        raise NotMergeable(message) from err
    replaced, added, kept = _labels(parts, _definition_keys(parent_module))
    return Merged(code, whole, replaced, added, kept)


# --- assembly ---------------------------------------------------------------------------------


def _assemble_edit(parent: _Module, answer: _Module) -> list[_Part]:
    """The parent, with the answer's definitions replacing, joining and importing."""
    parent_keys = {p.key for p in parent.parts if p.key}
    incoming = {p.key: p for p in answer.parts if p.key and not (p.key in parent_keys and _stub(p))}
    parts = [
        _merged_net(parent.net, answer.net) if p.key == NET else _take(p, incoming.get(p.key))
        for p in parent.parts
    ]
    new = [
        _merged_net(None, answer.net) if p.key == NET else p
        for p in answer.parts
        if p.key and p.key not in parent_keys
    ]
    present = {s for p in parent.parts if isinstance(p.node, _IMPORTS) for s in _signatures(p)}
    imports = []
    for part in answer.parts:
        if isinstance(part.node, _IMPORTS):
            kept = _import_subset(part, lambda signature: signature not in present)
            if kept is not None:
                imports.append(kept)
                present.update(_signatures(kept))
    return _with_imports(_with_definitions(parts, new), imports)


def _assemble_whole(parent: _Module, answer: _Module) -> list[_Part]:
    """The answer as it is, plus the parent's definitions and imports it uses but lacks."""
    own = {p.key: p for p in parent.parts if p.key}
    parts = [
        _merged_net(parent.net, answer.net) if p.key == NET else _take(own.get(p.key), p)
        for p in answer.parts
    ]
    bound = set().union(*(_binds(p) for p in parts))
    wanted = _used(parts) - bound
    while True:  # what the taken parent parts use in turn, until nothing more is wanted
        picks = [_pick(p, wanted) for p in parent.parts if p.key != NET]
        taken = [p for p in picks if p is not None]
        more = wanted | (_used(taken) - bound)
        if more == wanted:
            break
        wanted = more
    imports = [p for p in taken if isinstance(p.node, _IMPORTS)]
    definitions = [p for p in taken if not isinstance(p.node, _IMPORTS)]
    return _with_imports(_with_definitions(parts, definitions), imports)


def _pick(part: _Part, wanted: set[str]) -> _Part | None:
    """The part (or the aliases of an import) that binds a wanted name, if any."""
    if isinstance(part.node, _IMPORTS):
        return _import_subset(part, lambda signature: signature[0] in wanted)
    return part if _binds(part) & wanted else None


def _merged_net(parent: _Net | None, answer: _Net | None) -> _Part:
    """One Net part: the parent's members with the answer's over them, or the answer's alone."""
    if answer is None:
        assert parent is not None  # a Net part exists only where one of the two has a Net
        return _net_part(parent.header, parent.node, parent.members)
    use_answer_header = answer.custom_header or parent is None
    header, node = (
        (answer.header, answer.node) if use_answer_header else (parent.header, parent.node)
    )
    if parent is None:
        return _net_part(header or DEFAULT_NET_HEADER, node, answer.members)
    if answer.complete:
        by_key = {m.key: m for m in parent.members if m.key}
        members = [_take(by_key[m.key], m) if m.key in by_key else m for m in answer.members]
        return _net_part(header, node, members)
    return _net_part(header, node, _merged_members(parent.members, answer.members))


def _merged_members(parent: tuple[_Part, ...], answer: tuple[_Part, ...]) -> list[_Part]:
    parent_keys = {m.key for m in parent if m.key}
    incoming = {m.key: m for m in answer if not (m.key in parent_keys and _stub(m))}
    merged = [_take(m, incoming.pop(m.key, None)) if m.key else m for m in parent]
    return merged + [m for m in answer if incoming.get(m.key) is m]


def _take(parent: _Part | None, answer: _Part | None) -> _Part:
    """The answer's definition over the parent's, unless it is the parent's own, copied."""
    if parent is None or answer is None:
        part = answer or parent
        assert part is not None
        return part
    return parent if ast.dump(answer.node) == ast.dump(parent.node) else answer


def _net_part(header: str, node: ast.ClassDef | None, members: Iterable[_Part]) -> _Part:
    members = tuple(members)
    body = _join(members, _member_gap) if members else "pass"
    text = header + "\n" + textwrap.indent(body, INDENT)
    return _Part(NET, text, node, any(m.from_answer for m in members), members)


def _with_definitions(parts: list[_Part], new: list[_Part]) -> list[_Part]:
    """New definitions, in their order, before the first part that uses one of them, or Net."""
    if not new:
        return parts
    names = set().union(*(_binds(p) for p in new))
    at = next((i for i, p in enumerate(parts) if p.key == NET or _used([p]) & names), len(parts))
    return parts[:at] + new + parts[at:]


def _with_imports(parts: list[_Part], imports: list[_Part]) -> list[_Part]:
    """New imports after the leading imports (``from __future__`` ones first of all)."""
    future = [
        p for p in imports if isinstance(p.node, ast.ImportFrom) and p.node.module == "__future__"
    ]
    others = [p for p in imports if p not in future]
    leading = next((i for i, p in enumerate(parts) if not isinstance(p.node, _IMPORTS)), len(parts))
    return future + parts[:leading] + others + parts[leading:]


def _import_subset(part: _Part, keep: Callable[[tuple[str, str]], bool]) -> _Part | None:
    """The import with only the aliases ``keep`` accepts: itself, a trimmed copy, or None."""
    node = part.node
    assert isinstance(node, _IMPORTS)
    aliases = [a for a in node.names if keep(_signature(node, a))]
    if len(aliases) == len(node.names):
        return part
    if not aliases:
        return None
    trimmed = copy.copy(node)
    trimmed.names = aliases
    return replace(part, text=ast.unparse(trimmed), node=trimmed)


def _signatures(part: _Part) -> set[tuple[str, str]]:
    node = part.node
    assert isinstance(node, _IMPORTS)
    return {_signature(node, a) for a in node.names}


def _signature(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> tuple[str, str]:
    """(name bound, what it is): ``import torch.nn as nn`` and ``from torch import nn`` agree."""
    if isinstance(node, ast.Import):
        return alias.asname or alias.name.split(".")[0], alias.name
    source = "." * node.level + (node.module or "")
    return alias.asname or alias.name, f"{source}.{alias.name}"


# --- labels -------------------------------------------------------------------------------------


def _definition_keys(parent: _Module) -> set[str]:
    keys = {p.key for p in parent.parts if p.key}
    if parent.net is not None:
        keys |= {f"{NET}.{m.key}" for m in parent.net.members if m.key}
    return keys


def _labels(parts: list[_Part], parent_keys: set[str]) -> tuple[tuple[str, ...], ...]:
    """(replaced, added, kept) in the order of the result; a Net of one origin is one label."""
    replaced, added, kept = [], [], []
    for key, from_answer in _definitions(parts):
        if not from_answer:
            kept.append(key)
        else:
            (replaced if key in parent_keys else added).append(key)
    return tuple(replaced), tuple(added), tuple(kept)


def _definitions(parts: list[_Part]) -> Iterable[tuple[str, bool]]:
    for part in parts:
        if part.key == NET and len({m.from_answer for m in part.members}) > 1:
            for member in part.members:
                if member.key and member.key != "__doc__":
                    yield f"{NET}.{member.key}", member.from_answer
        elif part.key:
            yield part.key, part.from_answer


# --- reading a module into parts ------------------------------------------------------------------


def _parse(source: str) -> tuple[list[str], ast.Module]:
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n"), ast.parse(text)


def _parse_answer(answer: str) -> tuple[list[str], ast.Module]:
    """The answer parsed as written, or dedented (a model may indent bare methods)."""
    try:
        return _parse(answer)
    except (SyntaxError, ValueError) as err:
        try:
            return _parse(textwrap.dedent(answer.replace("\r\n", "\n")))
        except (SyntaxError, ValueError):
            raise NotMergeable(f"the answer does not parse: {err}") from err


def _read_module(lines: list[str], tree: ast.Module, from_answer: bool) -> _Module:
    doc, parts, classes, bare = None, [], [], []
    texts = _statement_texts(lines, tree.body, floor=0)
    for index, (node, (text, spaced)) in enumerate(zip(tree.body, texts, strict=True)):
        part = _Part(_key(node), text, node, from_answer, spaced=spaced)
        is_bare = from_answer and _is_bare_method(node)
        if index == 0 and _is_docstring(node):
            doc = part
            continue
        if is_bare or (isinstance(node, ast.ClassDef) and node.name == NET):
            (bare if is_bare else classes).append(part)
            part = _Part(NET, "", node, from_answer)  # Net takes the place of its first piece
        elif from_answer and not part.key and not isinstance(node, _IMPORTS):
            continue  # a demo, a print, a __main__ block: not part of a candidate
        parts.append(part)
    net = None
    if classes or bare:
        last = classes[-1] if classes else None
        net = _read_net(lines, last, from_answer) if last else _Net("", None, ())
        net = replace(net, members=_last_of_each([*net.members, *(replace(b) for b in bare)]))
    return _Module(doc, _last_of_each(parts), net)


def _read_net(lines: list[str], part: _Part, from_answer: bool) -> _Net:
    node = part.node
    assert isinstance(node, ast.ClassDef)
    texts = _statement_texts(lines, node.body, floor=node.lineno)
    members = [
        _Part(_member_key(m, i), text, m, from_answer, spaced=spaced)
        for i, (m, (text, spaced)) in enumerate(zip(node.body, texts, strict=True))
    ]
    if from_answer:
        members = [m for m in members if m.key]
    return _Net(_net_header(part.text, node), node, _last_of_each(members))


def _net_header(text: str, node: ast.ClassDef) -> str:
    """Comments, decorators and the class line(s) of a class's text, without its body."""
    lines = text.split("\n")
    first = _first_line(node)
    comments = len(lines) - (node.end_lineno - first + 1)
    body_start = _first_line(node.body[0])
    head = lines[: comments + body_start - first]
    if body_start == node.lineno:  # `class Net(nn.Module): ...` on one line
        head.append(_cut(lines[comments + node.lineno - first], 0, node.body[0].col_offset))
    while head and _is_comment_or_blank(head[-1]):
        head.pop()
    return "\n".join(head).rstrip()


def _statement_texts(lines: list[str], body: list[ast.stmt], floor: int) -> list[tuple[str, bool]]:
    """Each statement's text with its leading comments, dedented, and if a blank line is above.

    ``floor`` is the last line before the first statement that is not its own (the class line).
    """
    texts = []
    for index, node in enumerate(body):
        start, end = _first_line(node), node.end_lineno
        prev_end = body[index - 1].end_lineno if index else floor
        next_start = _first_line(body[index + 1]) if index + 1 < len(body) else None
        segment = lines[start - 1 : end]
        if next_start == end:  # `a = 1; b = 2`: cut before the next statement
            segment[-1] = _cut(segment[-1], 0, node.end_col_offset)
        comments = []
        if prev_end == start:
            segment[0] = _cut(segment[0], node.col_offset, None)
        else:
            comments = _leading_comments(lines, start, prev_end)
        above = start - len(comments) - 1
        spaced = above > floor and not lines[above - 1].strip()
        texts.append((_dedent([*comments, *segment], _indent_of(lines[start - 1])), spaced))
    return texts


def _leading_comments(lines: list[str], start: int, floor: int) -> list[str]:
    """The comment lines right above line ``start`` (1-based), down to line ``floor``."""
    top = start - 1
    while top > floor and _is_comment_or_blank(lines[top - 1]):
        top -= 1
    block = lines[top : start - 1]
    while block and not block[0].strip():
        block.pop(0)
    return block


def _dedent(lines: list[str], indent: str) -> str:
    """Remove the statement's own indentation; lines that have less (comments) lose theirs."""
    out = []
    for line in lines:
        if not line.strip():
            out.append("")
        elif line.startswith(indent):
            out.append(line[len(indent) :])
        else:
            out.append(line.lstrip())
    return "\n".join(out)


def _cut(line: str, start: int, end: int | None) -> str:
    """A slice of a line by the AST's column offsets, which count UTF-8 bytes."""
    return line.encode()[start:end].decode()


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _is_comment_or_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _last_of_each(parts: list[_Part]) -> tuple[_Part, ...]:
    """Parts with a repeated key keep only the last (as Python would), where it stands."""
    last = {p.key: i for i, p in enumerate(parts) if p.key}
    return tuple(p for i, p in enumerate(parts) if not p.key or last[p.key] == i)


# --- facts about statements ---------------------------------------------------------------------


def _key(node: ast.stmt) -> str:
    """The name a statement defines, or ""."""
    if isinstance(node, _DEFINITIONS):
        return node.name
    return ", ".join(_assigned_names(node))


def _assigned_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign):
        targets = [node.target]
    else:
        return []
    return [
        n.id
        for target in targets
        for n in ast.walk(target)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    ]


def _binds(part: _Part) -> set[str]:
    """The module-level names a part binds."""
    node = part.node
    if part.key == NET:
        return {NET}
    if isinstance(node, _IMPORTS):
        return {name for name, _ in _signatures(part)}
    if isinstance(node, _DEFINITIONS):
        return {node.name}
    return set(_assigned_names(node)) if isinstance(node, ast.stmt) else set()


def _used(parts: Iterable[_Part]) -> set[str]:
    """The names the parts read (for a Net: its bases, decorators and members)."""
    roots: list[ast.AST] = []
    for part in parts:
        if part.key == NET:
            roots += [m.node for m in part.members if m.node is not None]
            if isinstance(part.node, ast.ClassDef):
                roots += [*part.node.bases, *part.node.keywords, *part.node.decorator_list]
        elif part.node is not None:
            roots.append(part.node)
    return {
        n.id
        for root in roots
        for n in ast.walk(root)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }


def _without_demo_assignments(answer: _Module, source: str, parent: _Module) -> _Module:
    """The answer without module-level assignments that replace nothing and that nothing reads.

    ``model = Net(...)`` or ``x = torch.randn(...)`` is a demo, ``CONFIG = (...)`` read by a class
    or replacing the parent's is a definition.
    """
    reads = _read_by_definitions(answer, source) | {"supported_hyperparameters"}
    reads |= set().union(*(_binds(p) for p in parent.parts))
    assignments = [p for p in answer.parts if isinstance(p.node, (ast.Assign, ast.AnnAssign))]
    wanted = reads
    while True:  # an assignment that a kept assignment reads is kept too
        kept = [p for p in assignments if set(_assigned_names(p.node)) & wanted]
        more = reads | _used(kept)
        if more == wanted:
            break
        wanted = more
    demos = {id(p) for p in assignments} - {id(p) for p in kept}
    return replace(answer, parts=tuple(p for p in answer.parts if id(p) not in demos))


def _read_by_definitions(module: _Module, source: str) -> set[str]:
    """Module-level names that the module's classes and functions read, when defined or run."""
    definitions = [p.node for p in module.parts if isinstance(p.node, _DEFINITIONS)]
    if module.net is not None:
        definitions += [m.node for m in module.net.members if isinstance(m.node, _FUNCTIONS)]
        definitions += [module.net.node] if module.net.node else []
    names = {node.name for node in definitions}
    try:
        table = symtable.symtable(source, "answer", "exec")
    except SyntaxError as err:  # what ast accepts and the compiler does not: `nonlocal x` at top
        raise NotMergeable(f"the answer does not compile: {err.msg} (line {err.lineno})") from err
    scopes = [s for s in table.get_children() if s.get_name() in names]
    reads = set()
    while scopes:  # what their bodies read as globals (parameters and locals are not globals)
        scope = scopes.pop()
        reads |= {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()}
        scopes += scope.get_children()
    for node in definitions:  # what they read at definition time: bases, decorators, defaults
        header = [*node.decorator_list]
        if isinstance(node, ast.ClassDef):
            header += [*node.bases, *node.keywords]
        else:
            header += [*node.args.defaults, *node.args.kw_defaults]
        reads |= {
            n.id for root in header if root for n in ast.walk(root) if isinstance(n, ast.Name)
        }
    return reads


def _is_whole(answer: _Module) -> bool:
    declares = any(p.key == "supported_hyperparameters" and not _stub(p) for p in answer.parts)
    return declares and answer.net is not None and answer.net.complete


def _member_key(node: ast.stmt, index: int) -> str:
    return "__doc__" if index == 0 and _is_docstring(node) else _key(node)


def _is_docstring(node: ast.AST | None) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _is_bare_method(node: ast.stmt) -> bool:
    """A top-level ``def f(self, ...)``: a Net method whose class line the model dropped."""
    return isinstance(node, _FUNCTIONS) and bool(node.args.args) and node.args.args[0].arg == "self"


def _stub(part: _Part) -> bool:
    """A definition whose body says nothing: ``...``, ``pass``, a docstring, NotImplementedError."""
    node = part.node
    if not isinstance(node, _DEFINITIONS):
        return False
    body = node.body[1:] if _is_docstring(node.body[0]) else node.body
    return all(_is_filler(statement) for statement in body)


def _is_filler(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return node.value.value is Ellipsis
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


# --- layout -------------------------------------------------------------------------------------


def _join(parts: Iterable[_Part], gap: Callable[[_Part, _Part], str]) -> str:
    parts = list(parts)
    pieces = [parts[0].text]
    for before, after in pairwise(parts):
        pieces += [gap(before, after), after.text]
    return "".join(pieces)


def _is_definition(part: _Part) -> bool:
    return part.key == NET or isinstance(part.node, _DEFINITIONS)


def _module_gap(before: _Part, after: _Part) -> str:
    """PEP 8 spacing: two blank lines around definitions, one after the docstring, else as was."""
    if _is_definition(before) or _is_definition(after):
        return "\n\n\n"
    return "\n\n" if after.spaced or _is_docstring(before.node) else "\n"


def _member_gap(before: _Part, after: _Part) -> str:
    if _is_definition(before) or _is_definition(after) or before.key == "__doc__":
        return "\n\n"
    return "\n\n" if after.spaced else "\n"
