"""Facts about a parsed candidate that every static check needs: its nodes and import aliases.

Computed once per check: walking the tree is the main cost of the static checks.
"""

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

_MAX_RESOLUTIONS = 64  # alias chains are short; this bounds a hostile web of them


@dataclass(frozen=True)
class ModuleFacts:
    """A parsed module, every node of it (one walk), and its import aliases."""

    tree: ast.Module
    nodes: tuple[ast.AST, ...]
    aliases: dict[str, str]
    # Every name a module was bound to, by import or by assignment (`T = torch`,
    # `self.t = torch.nn`, `def f(m=torch)`), in any scope and any branch: for the forbidden
    # names, where one wrong guess must not hide a call.
    value_aliases: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, tree: ast.Module) -> "ModuleFacts":
        nodes = tuple(ast.walk(tree))
        aliases = import_aliases(nodes)
        return cls(tree, nodes, aliases, value_aliases(nodes, aliases))

    def resolutions(self, node: ast.AST) -> set[str]:
        """Every dotted name ``node`` may stand for, through imports and assignments."""
        raw = dotted_name(node, {})
        if raw is None:
            return set()
        found: set[str] = set()
        pending, seen = [raw], set()
        while pending and len(seen) < _MAX_RESOLUTIONS:
            dotted = pending.pop()
            if dotted in seen:
                continue
            seen.add(dotted)
            found.add(dotted)
            parts = dotted.split(".")
            for depth in range(len(parts), 0, -1):
                for target in self.value_aliases.get(".".join(parts[:depth]), ()):
                    pending.append(".".join([target, *parts[depth:]]))
        return found


def import_aliases(nodes: Iterable[ast.AST]) -> dict[str, str]:
    """Local name -> fully qualified name, for every import in the module."""
    aliases: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".", 1)[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _binding_pairs(node: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """(target, value) for the simple bindings of one node: assignments and default values."""
    if isinstance(node, ast.Assign):
        pairs = []
        for target in node.targets:
            if isinstance(target, ast.Tuple | ast.List) and isinstance(node.value, ast.Tuple):
                pairs += list(zip(target.elts, node.value.elts, strict=False))
            else:
                pairs.append((target, node.value))
        return pairs
    if isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
        return [(node.target, node.value)]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        arguments = node.args
        positional = [*arguments.posonlyargs, *arguments.args]
        defaulted = positional[len(positional) - len(arguments.defaults) :]
        pairs = list(zip(defaulted, arguments.defaults, strict=True))
        pairs += [
            (a, d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True) if d
        ]
        return [(ast.Name(arg.arg), default) for arg, default in pairs]
    return []


def value_aliases(nodes: Iterable[ast.AST], aliases: dict[str, str]) -> dict[str, set[str]]:
    """Local dotted name -> every dotted name it was bound to (imports included)."""
    found: dict[str, set[str]] = {name: {target} for name, target in aliases.items()}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.asname or alias.name.split(".", 1)[0], set()).add(
                    alias.name if alias.asname else alias.name.split(".", 1)[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    found.setdefault(alias.asname or alias.name, set()).add(
                        f"{node.module}.{alias.name}"
                    )
        for target, value in _binding_pairs(node):
            name, bound = dotted_name(target, {}), dotted_name(value, {})
            if name is not None and bound is not None and name != bound:
                found.setdefault(name, set()).add(bound)
    return found


def dotted_name(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """`T.hub.load` -> 'torch.hub.load' through the aliases; None for other expressions."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))
