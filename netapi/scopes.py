"""Which names a module binds in which scope, so a parameter called `input` is not the builtin."""

import ast

_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def parent_map(tree: ast.AST) -> dict[int, ast.AST]:
    """id(child) -> parent, built iteratively (deep trees do not recurse)."""
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    return parents


def _enclosing_scope(node: ast.AST, parents: dict[int, ast.AST], tree: ast.Module) -> ast.AST:
    current = parents.get(id(node))
    while current is not None and not isinstance(current, _SCOPES):
        current = parents.get(id(current))
    return current if current is not None else tree


def _bound_names(scope: ast.AST, parents: dict[int, ast.AST], tree: ast.Module) -> set[str]:
    names: set[str] = set()
    if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        arguments = scope.args
        params = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        params += [arg for arg in (arguments.vararg, arguments.kwarg) if arg is not None]
        names |= {param.arg for param in params}
    for node in ast.walk(scope):
        if node is not scope and _enclosing_scope(node, parents, tree) is not scope:
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node is not scope:
                names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".", 1)[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


class Bindings:
    """Answers: is this Name node a module-level or local binding rather than a builtin?"""

    def __init__(self, tree: ast.Module) -> None:
        self._tree = tree
        self._parents_map: dict[int, ast.AST] | None = None
        self._cache: dict[int, set[str]] = {}

    @property
    def _parents(self) -> dict[int, ast.AST]:
        if self._parents_map is None:  # most candidates never ask
            self._parents_map = parent_map(self._tree)
        return self._parents_map

    def _names_of(self, scope: ast.AST) -> set[str]:
        if id(scope) not in self._cache:
            self._cache[id(scope)] = _bound_names(scope, self._parents, self._tree)
        return self._cache[id(scope)]

    def is_shadowed(self, node: ast.Name) -> bool:
        """True when an enclosing scope (or the module) binds the name."""
        scope = _enclosing_scope(node, self._parents, self._tree)
        while True:
            if node.id in self._names_of(scope):
                return True
            if scope is self._tree:
                return False
            scope = _enclosing_scope(scope, self._parents, self._tree)
