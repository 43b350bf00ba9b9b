"""Contract rules: `criterion` -> the `criteria` tuple, in_shape[0] (the batch) used as the
channel count, a module's `__init__` that assigns submodules before `super().__init__()`, and a
`forward` that flattens the batch away."""

import ast
import re

from netapi.api_contract import (
    batch_as_channels,
    batch_size_bindings,
    in_shape_parameter,
    is_module_base,
    net_methods,
)
from netapi.module_facts import import_aliases
from search_core.generation.fixes.editing import AppliedFix, Plan, Source, body_start, deletion

# Variables that hold a channel count: `c = in_shape[0]` is the slip `in_shape[1]` fixes.
_CHANNEL_NAME = re.compile(r"^(c|nc|in_?c|in_?planes)$|(^|_)(ch|chs|chans?|channels?)(_|$)")


def _self_attributes(tree: ast.Module, name: str) -> list[ast.Attribute]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == name
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ]


def criterion_to_criteria(source: Source, parent_code: str) -> Plan:
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


def in_shape_channels(source: Source, parent_code: str) -> Plan:
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


def is_super_init(statement: ast.stmt) -> bool:
    """`super().__init__(...)` or `super(Net, self).__init__(...)` or `nn.Module.__init__(self)`."""
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return False
    func = statement.value.func
    if not (isinstance(func, ast.Attribute) and func.attr == "__init__"):
        return False
    owner = func.value
    called_super = (
        isinstance(owner, ast.Call)
        and isinstance(owner.func, ast.Name)
        and owner.func.id == "super"
    )
    return called_super or (isinstance(owner, ast.Attribute) and owner.attr == "Module")


def _touches_self(statement: ast.stmt) -> bool:
    """Whether the statement assigns or calls anything on `self`."""
    return any(
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        for node in ast.walk(statement)
    )


def _module_classes(tree: ast.Module) -> list[ast.ClassDef]:
    """Top-level classes with a torch.nn module base (netapi's rule: `nn.Module`, `Module`...)."""
    aliases = import_aliases(ast.walk(tree))
    return [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(is_module_base(base, aliases) for base in node.bases)
    ]


def super_init_first(source: Source, parent_code: str) -> Plan:
    """An nn.Module's `__init__` without `super().__init__()`, or with it after a statement
    that touches `self`: torch raises on the first submodule assigned before it. It goes
    first."""
    plan: Plan = []
    for cls in _module_classes(source.tree):
        init = next(
            (f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"),
            None,
        )
        if init is None:
            continue
        first = body_start(init)
        if first.lineno == init.lineno or is_super_init(first):
            continue
        indent = " " * first.col_offset
        calls = [s for s in init.body if is_super_init(s)]
        if not calls:
            insert = source.insert_before_line(first.lineno, f"{indent}super().__init__()\n")
            fix = AppliedFix("super-init-first", f"{cls.name}.__init__: super().__init__() added")
            plan.append((fix, [insert]))
            continue
        call = calls[0]
        before = init.body[: init.body.index(call)]
        if not any(_touches_self(statement) for statement in before):
            continue  # locals bound first are harmless: only `self.x = ...` needs the call
        removal = deletion(source, call)
        if removal is None or call.lineno != call.end_lineno:
            continue
        moved = f"{indent}{source.text(call)}\n"
        fix = AppliedFix(
            "super-init-first", f"{cls.name}.__init__: {source.text(call)} moved first"
        )
        plan.append((fix, [source.insert_before_line(first.lineno, moved), removal]))
    return plan


def _flattens_everything(call: ast.Call) -> str | None:
    """The text that replaces a call flattening a tensor with its batch dimension, if it is
    one: `torch.flatten(x)`, `x.flatten()`, `x.view(-1)`, `x.reshape(-1)` (x a name)."""
    func = call.func
    if call.keywords or not isinstance(func, ast.Attribute):
        return None
    owner = func.value
    args = call.args
    if func.attr == "flatten" and isinstance(owner, ast.Name):
        if owner.id == "torch" and len(args) == 1 and isinstance(args[0], ast.Name):
            return f"torch.flatten({args[0].id}, 1)"
        if not args:
            return f"{owner.id}.flatten(1)"
    minus_one = (
        len(args) == 1
        and isinstance(args[0], ast.UnaryOp)
        and isinstance(args[0].op, ast.USub)
        and getattr(args[0].operand, "value", None) == 1
    )
    if func.attr in ("view", "reshape") and minus_one and isinstance(owner, ast.Name):
        return f"{owner.id}.{func.attr}({owner.id}.size(0), -1)"
    return None


def flatten_keeps_batch(source: Source, parent_code: str) -> Plan:
    """`torch.flatten(x)` in a module's forward flattens the batch into the features (the
    head then sees one row of batch x features): the batch dimension is kept."""
    plan: Plan = []
    for cls in _module_classes(source.tree):
        for method in cls.body:
            if not (isinstance(method, ast.FunctionDef) and method.name == "forward"):
                continue
            calls = [node for node in ast.walk(method) if isinstance(node, ast.Call)]
            for call in sorted(calls, key=lambda node: (node.lineno, node.col_offset)):
                fixed = _flattens_everything(call)
                if fixed is None:
                    continue
                detail = f"{cls.name}.forward: {source.text(call)} -> {fixed} (line {call.lineno})"
                plan.append(
                    (AppliedFix("flatten-keeps-batch", detail), [source.replace(call, fixed)])
                )
    return plan
