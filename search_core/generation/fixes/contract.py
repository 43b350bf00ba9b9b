"""Contract rules: `criterion` -> the `criteria` tuple, and in_shape[0] (the batch) used as
the channel count."""

import ast
import re

from netapi.api_contract import (
    batch_as_channels,
    batch_size_bindings,
    in_shape_parameter,
    net_methods,
)
from search_core.generation.fixes.editing import AppliedFix, Plan, Source

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
