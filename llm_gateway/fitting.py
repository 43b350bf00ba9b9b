"""Fit a library prompt into the model's context instead of refusing it for length.

Called by ``prepare`` only when a rendered template is over budget. The steps, in order, each
tried only while the prompt is still over:

1. ``comments-stripped``: comments and docstrings leave every Python ``code`` / ``code_list``
   value (AST-checked, so the code stays valid; a value that does not parse is left alone);
2. ``snippets-cut:N``: ``code_list`` items, longest first, are cut to their key blocks as the
   NN-Caption paper does: the ``Net`` class with ``__init__`` and ``forward`` (and the methods,
   classes, functions and constants those use); ``supported_hyperparameters``,
   ``train_setup``, ``learn``, ``HYPERPARAMETERS`` and module-level demo code go;
3. ``snippets-dropped:N``: ``code_list`` items leave from the end, never below the variable's
   smallest allowed length (``Variable.lengths``: 10 snippets become 5, never 9);
4. ``max-new-tokens:M``: the answer gets what the context leaves, never under
   ``MIN_NEW_TOKENS`` (nor over what was asked).

Only VALUES change; the template still renders them in its one escaped pass.
"""

import ast
import io
import tokenize
from collections.abc import Callable
from dataclasses import dataclass

from llm_gateway.domain import ChatTurn, PromptSelection
from llm_gateway.prompts.library import PromptTemplate, Variable

# The fewest answer tokens fitting may leave: a whole Net API module (imports, two classes,
# train_setup, learn, forward) is 400-900 tokens, so less would trade a refusal for an answer
# cut by length. A request that asks for fewer keeps its own number.
MIN_NEW_TOKENS = 512

KEPT_METHODS = frozenset({"__init__", "forward"})
DROPPED_METHODS = frozenset({"train_setup", "learn"})
DROPPED_NAMES = frozenset({"supported_hyperparameters", "HYPERPARAMETERS"})
ROOT_CLASS = "Net"

Measure = Callable[[tuple[ChatTurn, ...]], int]


@dataclass(frozen=True)
class Fitted:
    """The conversation after fitting; ``fits`` is False when every step was not enough."""

    turns: tuple[ChatTurn, ...]
    prompt_estimate: int
    max_new_tokens: int
    steps: tuple[str, ...]  # what was applied, e.g. ("comments-stripped", "snippets-cut:4")
    tried: tuple[str, ...]  # every step tried, in words, for the refusal's message
    fits: bool


def _parses(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):  # ValueError: NUL bytes
        return None


def _docstring(body: list[ast.stmt]) -> ast.Expr | None:
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


def _bodies(tree: ast.Module) -> list[list[ast.stmt]]:
    """The bodies that may open with a docstring: the module's, every class's and function's."""
    scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return [node.body for node in ast.walk(tree) if isinstance(node, scopes)]


def _without_docstrings(tree: ast.Module) -> ast.Module:
    """``tree`` (changed in place) without docstrings; a body left empty gets ``pass``."""
    for body in _bodies(tree):
        if _docstring(body) is not None:
            del body[0]
            if not body:
                body.append(ast.Pass())
    return tree


def _tidy(lines: list[str | None]) -> str:
    """Join the surviving lines (None: deleted) with at most two blank lines in a row."""
    kept: list[str] = []
    blanks = 0
    for line in lines:
        if line is None:
            continue
        blanks = blanks + 1 if not line.strip() else 0
        if blanks <= 2:
            kept.append(line)
    return "\n".join(kept).strip("\n") + "\n"


def strip_comments(code: str) -> str:
    """``code`` without comments and docstrings, formatting kept; unchanged if it does not parse.

    Lines are edited where comments and docstrings sit on lines of their own; the result must
    parse to the same tree as the original less its docstrings, else that tree is unparsed.
    """
    tree = _parses(code)
    if tree is None:
        return code
    original = code.splitlines()
    lines: list[str | None] = list(original)
    try:
        comments = [
            token.start
            for token in tokenize.generate_tokens(io.StringIO(code).readline)
            if token.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError):
        comments = None
    if comments is not None:
        for row, column in comments:
            line = lines[row - 1]
            rest = line[:column].rstrip()
            lines[row - 1] = rest if rest else None
        for body in _bodies(tree):
            node = _docstring(body)
            if node is None:
                continue
            start, end = node.lineno - 1, (node.end_lineno or node.lineno) - 1
            indent = original[start][: node.col_offset]  # indentation is ASCII: bytes = chars
            lines[start : end + 1] = [None] * (end + 1 - start)
            if len(body) == 1:
                lines[start] = f"{indent}pass"
            elif end + 1 < len(lines) and lines[end + 1] is not None and not lines[end + 1].strip():
                lines[end + 1] = None  # the blank line that set the docstring apart
        lines = [line.rstrip() if line is not None else None for line in lines]
    expected = ast.dump(_without_docstrings(tree))
    if comments is not None:
        text = _tidy(lines)
        edited = _parses(text)
        if edited is not None and ast.dump(edited) == expected:
            return text
    return ast.unparse(tree) + "\n"  # the tree less its docstrings; comments are gone too


def _references(nodes: list[ast.AST]) -> tuple[set[str], set[str]]:
    """(names, attribute names) that ``nodes`` use."""
    names: set[str] = set()
    attributes: set[str] = set()
    for node in nodes:
        for child in ast.walk(node):
            if isinstance(child, ast.Name):
                names.add(child.id)
            elif isinstance(child, ast.Attribute):
                attributes.add(child.attr)
    return names, attributes


def _defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return {node.name}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def _is_function(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)


def _kept(tree: ast.Module) -> tuple[set[int], dict[int, set[str]]]:
    """(ids of the kept top-level statements, kept method names per kept class id)."""
    definitions = [node for node in tree.body if _defined_names(node)]
    roots = [n for n in definitions if isinstance(n, ast.ClassDef) and n.name == ROOT_CLASS]
    if not roots:
        roots = [n for n in definitions if isinstance(n, ast.ClassDef)]
    kept = {id(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)}
    kept |= {
        id(node)
        for node in tree.body
        if isinstance(node, ast.If | ast.Try)
        and not _is_main_guard(node)
        and any(isinstance(child, ast.Import | ast.ImportFrom) for child in ast.walk(node))
    }
    kept |= {id(node) for node in roots}
    methods: dict[int, set[str]] = {}
    while True:
        parts: list[ast.AST] = []
        for node in tree.body:
            if id(node) not in kept:
                continue
            if isinstance(node, ast.ClassDef):
                parts += [*node.bases, *node.keywords, *node.decorator_list]
                parts += [
                    child
                    for child in node.body
                    if not _is_function(child) or child.name in methods.get(id(node), KEPT_METHODS)
                ]
            else:
                parts.append(node)
        names, attributes = _references(parts)
        wanted_methods = (KEPT_METHODS | attributes) - DROPPED_METHODS
        grown = False
        for node in definitions:
            if id(node) not in kept and _defined_names(node) & names - DROPPED_NAMES:
                kept.add(id(node))
                grown = True
            if isinstance(node, ast.ClassDef) and id(node) in kept:
                own = {child.name for child in node.body if _is_function(child)}
                chosen = own & wanted_methods
                if chosen != methods.get(id(node)):
                    methods[id(node)] = chosen
                    grown = True
        if not grown:
            return kept, methods


def _span(node: ast.stmt) -> tuple[int, int]:
    """0-based first and last line of a statement, decorators included."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first - 1, (node.end_lineno or node.lineno) - 1


def key_blocks(code: str) -> str:
    """``code`` cut to its key blocks (see the module docstring); unchanged if it does not parse
    or has no class."""
    tree = _parses(code)
    if tree is None or not any(isinstance(node, ast.ClassDef) for node in tree.body):
        return code
    kept, methods = _kept(tree)
    lines: list[str | None] = list(code.splitlines())
    dropped_methods: list[ast.stmt] = []
    for node in tree.body:
        if id(node) not in kept:
            first, last = _span(node)
            lines[first : last + 1] = [None] * (last + 1 - first)
        elif isinstance(node, ast.ClassDef):
            gone = [c for c in node.body if _is_function(c) and c.name not in methods[id(node)]]
            dropped_methods += gone
            for child in gone:
                first, last = _span(child)
                lines[first : last + 1] = [None] * (last + 1 - first)
            if len(gone) == len(node.body):
                lines[_span(gone[0])[0]] = " " * gone[0].col_offset + "pass"
    text = _tidy(lines)
    if _parses(text) is not None:
        return text
    # Lines shared between statements (``a = 1; b = 2``): cut the tree and unparse it.
    tree.body = [node for node in tree.body if id(node) in kept]
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            node.body = [c for c in node.body if c not in dropped_methods] or [ast.Pass()]
    return ast.unparse(tree) + "\n"


def _python(var: Variable) -> bool:
    return var.kind in ("code", "code_list") and var.language == "python"


class _Fitting:
    """The values being fitted, and the check after each change."""

    def __init__(
        self,
        template: PromptTemplate,
        selection: PromptSelection,
        max_new_tokens: int,
        max_total_tokens: int,
        measure: Measure,
    ) -> None:
        self.template = template
        self.values = dict(selection.variables)
        self.lists = {name: list(items) for name, items in selection.list_variables.items()}
        self.max_new_tokens = max_new_tokens
        self.max_total_tokens = max_total_tokens
        self.measure = measure
        self.steps: list[str] = []
        self.tried: list[str] = []
        self.render()

    def render(self) -> bool:
        """Render the current values; whether they fit."""
        lists = {name: tuple(items) for name, items in self.lists.items()}
        self.turns = self.template.render(self.values, lists)
        self.estimate = self.measure(self.turns)
        return self.fits()

    def fits(self) -> bool:
        return self.estimate + self.max_new_tokens <= self.max_total_tokens

    def python_lists(self) -> list[str]:
        variables = self.template.variables
        return [name for name in self.lists if _python(variables[name])]

    def strip_comments(self) -> bool:
        self.tried.append("stripping comments and docstrings from the code")
        changed = False
        for name, value in self.values.items():
            if _python(self.template.variables[name]):
                stripped = strip_comments(value)
                if stripped != value and stripped.strip():
                    self.values[name] = stripped
                    changed = True
        for name in self.python_lists():
            for index, item in enumerate(self.lists[name]):
                stripped = strip_comments(item)
                if stripped != item and stripped.strip():
                    self.lists[name][index] = stripped
                    changed = True
        if changed:
            self.steps.append("comments-stripped")
        return self.render()

    def cut_snippets(self) -> bool:
        self.tried.append("cutting the code snippets to their key blocks")
        items = [(name, i) for name in self.python_lists() for i in range(len(self.lists[name]))]
        items.sort(key=lambda item: -len(self.lists[item[0]][item[1]]))
        cut = 0
        fits = self.fits()
        for name, index in items:
            if fits:
                break
            item = self.lists[name][index]
            shorter = key_blocks(item)
            if shorter != item and shorter.strip():
                self.lists[name][index] = shorter
                cut += 1
                fits = self.render()
        if cut:
            self.steps.append(f"snippets-cut:{cut}")
        return fits

    def drop_snippets(self) -> bool:
        smallest = {
            name: min(self.template.variables[name].lengths, default=1)
            for name in self.python_lists()
        }
        limits = ", ".join(f"{name} down to {n}" for name, n in smallest.items())
        self.tried.append(f"dropping snippets ({limits or 'none to drop'})")
        dropped = 0
        fits = self.fits()
        for name in reversed(self.python_lists()):
            allowed = sorted(self.template.variables[name].lengths) or None
            while not fits:
                count = len(self.lists[name])
                fewer = [n for n in allowed if n < count] if allowed else [count - 1]
                if not fewer or fewer[-1] < 1:
                    break
                dropped += count - fewer[-1]
                del self.lists[name][fewer[-1] :]
                fits = self.render()
        if dropped:
            self.steps.append(f"snippets-dropped:{dropped}")
        return fits

    def shorten_answer(self) -> bool:
        floor = min(MIN_NEW_TOKENS, self.max_new_tokens)
        self.tried.append(f"lowering max_new_tokens to no less than {floor}")
        room = self.max_total_tokens - self.estimate
        if room >= floor:
            self.max_new_tokens = room
            self.steps.append(f"max-new-tokens:{room}")
        return self.fits()


def fit_prompt(
    template: PromptTemplate,
    selection: PromptSelection,
    *,
    max_new_tokens: int,
    max_total_tokens: int,
    measure: Measure,
) -> Fitted:
    """Apply the module's steps in order until the prompt and the answer fit the context.

    ``measure``: the token estimate of a rendered conversation, as the caller counts it.
    """
    fitting = _Fitting(template, selection, max_new_tokens, max_total_tokens, measure)
    steps = (
        fitting.strip_comments,
        fitting.cut_snippets,
        fitting.drop_snippets,
        fitting.shorten_answer,
    )
    fits = fitting.fits()
    for step in steps:
        if fits:
            break
        fits = step()
    return Fitted(
        turns=fitting.turns,
        prompt_estimate=fitting.estimate,
        max_new_tokens=fitting.max_new_tokens,
        steps=tuple(fitting.steps),
        tried=tuple(fitting.tried),
        fits=fits,
    )
