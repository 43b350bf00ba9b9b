"""Facts about a parsed candidate that every static check needs: its nodes and import aliases.

Computed once per check: walking the tree is the main cost of the static checks.
"""

import ast
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ModuleFacts:
    """A parsed module, every node of it (one walk), and its import aliases."""

    tree: ast.Module
    nodes: tuple[ast.AST, ...]
    aliases: dict[str, str]

    @classmethod
    def of(cls, tree: ast.Module) -> "ModuleFacts":
        nodes = tuple(ast.walk(tree))
        return cls(tree, nodes, import_aliases(nodes))


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
