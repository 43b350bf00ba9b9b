"""Name rules: torch names small models misspell, and a local the answer reads but no longer
binds where its parent's method did.

A small model rewriting `Net.__init__` often keeps `nn.Dropout(dropout)` and drops the line
`dropout = prm['dropout']` above it: a NameError at instantiation. The parent's own binding
of that name, in the method of the same class and name, is put back at the top of the method.
"""

import ast

from netapi.module_facts import dotted_name, import_aliases
from netapi.parsing import parse_candidate
from netapi.scopes import ScopeMap, parameter_names
from search_core.generation.fixes.contract import is_super_init
from search_core.generation.fixes.editing import (
    BUILTINS,
    AppliedFix,
    Plan,
    Source,
    body_start,
    sharing_one_edit,
)

_Function = ast.FunctionDef | ast.AsyncFunctionDef

# torch names that do not exist, as small models write them, and the real name each means
# (the same function or class under its torch spelling).
TORCH_MISSPELLINGS = {
    "torch.nn.Swish": "SiLU",
    "torch.nn.HardSwish": "Hardswish",
    "torch.nn.HSwish": "Hardswish",
    "torch.nn.HardSigmoid": "Hardsigmoid",
    "torch.nn.HSigmoid": "Hardsigmoid",
    "torch.nn.Gelu": "GELU",
    "torch.nn.GeLU": "GELU",
    "torch.nn.Relu": "ReLU",
    "torch.nn.LeakyRelu": "LeakyReLU",
    "torch.nn.Relu6": "ReLU6",
    "torch.nn.functional.swish": "silu",
    "torch.nn.functional.Swish": "silu",
    "torch.nn.functional.hard_swish": "hardswish",
}


def torch_misspellings(source: Source, parent_code: str) -> Plan:
    """`nn.Swish()` -> `nn.SiLU()`: a misspelt torch name (resolved through the module's
    import aliases) renamed to the real one."""
    aliases = import_aliases(ast.walk(source.tree))
    plan: Plan = []
    attributes = [node for node in ast.walk(source.tree) if isinstance(node, ast.Attribute)]
    for node in sorted(attributes, key=lambda node: (node.lineno, node.col_offset)):
        dotted = dotted_name(node, aliases)
        real = TORCH_MISSPELLINGS.get(dotted or "")
        if real is None:
            continue
        owner = source.text(node.value)
        fix = AppliedFix(
            "torch-misspelling", f"{owner}.{node.attr} -> {owner}.{real} (line {node.lineno})"
        )
        plan.append((fix, [source.replace(node, f"{owner}.{real}")]))
    return plan


def _methods(tree: ast.Module) -> dict[tuple[str, str], _Function]:
    """(class name, method name) -> the method, for every top-level class."""
    return {
        (node.name, method.name): method
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        for method in node.body
        if isinstance(method, _Function)
    }


def _unbound_reads(function: _Function, scopes: ScopeMap) -> list[str]:
    """Names the function reads that no scope binds and no builtin is, first read first."""
    found: list[str] = []
    module = scopes.module.sites
    for node in ast.walk(function):
        if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
            continue
        name = node.id
        if name in module or name in BUILTINS or name in found:
            continue
        if scopes.local_scope(node) is None:
            found.append(name)
    return found


def _simple_binding(function: _Function, name: str) -> ast.Assign | None:
    """The first one-line `name = value` among the function's top-level statements."""
    for statement in function.body:
        if (
            isinstance(statement, ast.Assign)
            and statement.lineno == statement.end_lineno
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and statement.targets[0].id == name
        ):
            return statement
    return None


def parent_local_bindings(source: Source, parent_code: str) -> Plan:
    """`nn.Dropout(dropout)` with `dropout` bound nowhere -> the parent method's binding of it."""
    parent_tree = parse_candidate(parent_code).tree if parent_code.strip() else None
    if parent_tree is None:
        return []
    parent = Source(parent_code, parent_tree)
    parent_methods = _methods(parent_tree)
    scopes = ScopeMap(source.tree)
    plan: Plan = []
    for key, function in _methods(source.tree).items():
        inherited = parent_methods.get(key)
        if inherited is None:
            continue
        available = set(parameter_names(function.args)) | set(scopes.module.sites) | BUILTINS
        restored = []
        for name in _unbound_reads(function, scopes):
            binding = _simple_binding(inherited, name)
            if binding is None:
                continue
            needs = {n.id for n in ast.walk(binding.value) if isinstance(n, ast.Name)}
            if needs <= available | {b.targets[0].id for b in restored}:
                restored.append(binding)
        if not restored:
            continue
        first = body_start(function)
        if is_super_init(first) and first is not function.body[-1]:
            first = function.body[function.body.index(first) + 1]  # bound after the super call
        if first.lineno == function.lineno:
            continue  # `def f(self): return x`: no line of its own to insert before
        indent = " " * first.col_offset
        text = "".join(f"{indent}{parent.text(binding)}\n" for binding in restored)
        fixes = [
            AppliedFix("parent-local-binding", f"{key[0]}.{key[1]}: {parent.text(b)}")
            for b in restored
        ]
        plan += sharing_one_edit(fixes, [source.insert_before_line(first.lineno, text)])
    return plan
