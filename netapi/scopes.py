"""Which scope binds a name, as Python decides it, so a parameter called `input` is not the builtin.

Python's rules, kept because each one was an escape: default values, annotations and
decorators are evaluated in the scope around a function; a class body's names are invisible
to the functions inside it; and only a function's locals are sure to be what they say. A
module- or class-level binding may never have run (`if False: exec = None`) or may have been
deleted, and the lookup then falls through to the builtin.
"""

import ast
from dataclasses import dataclass, field

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass
class Site:
    """One place that binds a name: the statement's value, or None when it is not an expression
    (a parameter, an import, a `with` or `except` target...)."""

    value: ast.AST | None = None
    loop: ast.For | ast.comprehension | None = None  # when the name is in a loop's target


@dataclass
class Scope:
    """A module, class, function or comprehension: its names and where they are bound."""

    node: ast.AST
    parent: "Scope | None"
    sites: dict[str, list[Site]] = field(default_factory=dict)
    declared_global: set[str] = field(default_factory=set)
    declared_nonlocal: set[str] = field(default_factory=set)
    everywhere: set[str] | None = None  # the module's set of every name bound in any scope

    def bind(self, name: str, site: Site | None = None) -> None:
        self.sites.setdefault(name, []).append(site or Site())
        if self.everywhere is not None:
            self.everywhere.add(name)


def _function_outside(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[ast.AST]:
    """What a def or lambda evaluates in the scope around it: defaults, annotations, decorators."""
    arguments = node.args
    outside: list[ast.AST] = [*arguments.defaults, *(d for d in arguments.kw_defaults if d)]
    if not isinstance(node, ast.Lambda):
        params = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        params += [arg for arg in (arguments.vararg, arguments.kwarg) if arg is not None]
        outside += [param.annotation for param in params if param.annotation is not None]
        outside += [*node.decorator_list, *([node.returns] if node.returns else [])]
    return outside


def parameter_names(arguments: ast.arguments) -> list[str]:
    """Every parameter a def or lambda binds: positional-only, positional, keyword-only, *, **."""
    params = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    params += [arg for arg in (arguments.vararg, arguments.kwarg) if arg is not None]
    return [param.arg for param in params]


class ScopeMap:
    """Every scope of a module, and the scope each Name node is looked up from (one walk)."""

    def __init__(self, tree: ast.Module) -> None:
        self.bound_anywhere: set[str] = set()
        self.module = Scope(tree, None, everywhere=self.bound_anywhere)
        self._of_name: dict[int, Scope] = {}
        self._described: set[int] = set()  # target Names whose binding site is recorded
        self._build(tree)

    def scope_of(self, node: ast.Name) -> Scope:
        return self._of_name.get(id(node), self.module)

    def _build(self, tree: ast.Module) -> None:
        stack: list[tuple[ast.AST, Scope]] = [(child, self.module) for child in tree.body]
        while stack:
            node, scope = stack.pop()
            stack.extend(self._visit(node, scope))

    def _visit(self, node: ast.AST, scope: Scope) -> list[tuple[ast.AST, Scope]]:
        """Record what ``node`` binds; return its children with the scope each runs in."""
        if isinstance(node, _FUNCTIONS):
            inner = Scope(node, scope, everywhere=self.bound_anywhere)
            for name in parameter_names(node.args):
                inner.bind(name)
            if not isinstance(node, ast.Lambda):
                scope.bind(node.name)
            body = node.body if isinstance(node.body, list) else [node.body]
            return [(n, scope) for n in _function_outside(node)] + [(n, inner) for n in body]
        if isinstance(node, ast.ClassDef):
            scope.bind(node.name)
            inner = Scope(node, scope, everywhere=self.bound_anywhere)
            outside = [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]
            return [(n, scope) for n in outside] + [(n, inner) for n in node.body]
        if isinstance(node, _COMPREHENSIONS):
            inner = Scope(node, scope, everywhere=self.bound_anywhere)
            for generator in node.generators:
                self._bind_targets(generator.target, inner, Site(generator.iter, generator))
            first, *rest = node.generators
            children: list[tuple[ast.AST, Scope]] = [(first.iter, scope)]
            children += [(n, inner) for n in (first.target, *first.ifs)]
            children += [(n, inner) for gen in rest for n in (gen.target, gen.iter, *gen.ifs)]
            elements = (node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,)
            return children + [(n, inner) for n in elements]
        if isinstance(node, ast.NamedExpr):  # binds in the nearest non-comprehension scope
            target = scope
            while isinstance(target.node, _COMPREHENSIONS) and target.parent is not None:
                target = target.parent
            target.bind(node.target.id, Site(node.value))
            self._of_name[id(node.target)] = target
            return [(node.value, scope)]
        self._bind(node, scope)
        return [(child, scope) for child in ast.iter_child_nodes(node)]

    def _bind(self, node: ast.AST, scope: Scope) -> None:
        if isinstance(node, ast.Name):
            self._of_name[id(node)] = scope
            if not isinstance(node.ctx, ast.Load) and id(node) not in self._described:
                scope.bind(node.id)  # with, augmented assignment, del, unpacking...
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    self._bind_targets(target, scope, Site(node.value))
        elif isinstance(node, ast.For):
            self._bind_targets(node.target, scope, Site(node.iter, node))
        elif isinstance(node, ast.alias):
            scope.bind((node.asname or node.name).split(".", 1)[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            scope.bind(node.name)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            scope.bind(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            scope.bind(node.rest)
        elif isinstance(node, ast.Global):
            scope.declared_global.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            scope.declared_nonlocal.update(node.names)

    def _bind_targets(self, target: ast.AST, scope: Scope, site: Site) -> None:
        for name in ast.walk(target):
            if isinstance(name, ast.Name):
                scope.bind(name.id, site)
                self._described.add(id(name))

    def local_scope(self, node: ast.Name) -> Scope | None:
        """The function or comprehension whose local ``node`` surely is; None when the name may
        be a global, a class attribute or a builtin at run time."""
        scope: Scope | None = self.scope_of(node)
        while scope is not None and scope is not self.module:
            if isinstance(scope.node, ast.ClassDef):
                scope = scope.parent  # class-level bindings are neither sure nor visible below
                continue
            if node.id in scope.declared_global:
                return None
            if node.id in scope.sites and node.id not in scope.declared_nonlocal:
                return scope
            scope = scope.parent
        return None


class Bindings:
    """Answers: is this Name node a function's local rather than (possibly) a builtin?"""

    def __init__(self, tree: ast.Module) -> None:
        self._tree = tree
        self._map: ScopeMap | None = None
        self.memo: dict[tuple, object] = {}  # what reflection.py worked out about a node

    @property
    def scopes(self) -> ScopeMap:
        if self._map is None:  # most candidates never ask
            self._map = ScopeMap(self._tree)
        return self._map

    def is_shadowed(self, node: ast.Name) -> bool:
        """True when an enclosing function binds the name, so it can never be the builtin."""
        return self.scopes.local_scope(node) is not None

    def is_builtin(self, node: ast.Name) -> bool:
        """True when no scope of the module binds the name: it is surely the builtin."""
        return node.id not in self.scopes.bound_anywhere

    def sites(self, node: ast.Name) -> list[Site] | None:
        """Every binding of a function-local name in its function; None for other names."""
        scope = self.scopes.local_scope(node)
        return None if scope is None else scope.sites[node.id]
