"""Import rules: star imports made explicit, missing standard imports added."""

import ast
import importlib
from functools import cache

from netapi.forbidden_names import forbidden_dotted
from netapi.static_check import DEFAULT_POLICY
from search_core.generation.fixes.editing import (
    AppliedFix,
    Plan,
    Source,
    deletion,
    free_names,
    insert_top_level,
    sharing_one_edit,
)

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
    "re": "import re",
    "copy": "import copy",
    "random": "import random",
    "warnings": "import warnings",
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


# torch names a model uses bare (`class Block(Module)`, `Conv2d(...)`): the stable public
# classes of torch.nn, listed here rather than read from torch, which search_core's image
# does not carry.
_TORCH_NN_BARE_NAMES = (
    "Module Sequential ModuleList ModuleDict Parameter Identity Flatten Linear Bilinear "
    "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d BatchNorm1d BatchNorm2d "
    "BatchNorm3d LayerNorm GroupNorm InstanceNorm2d Dropout Dropout2d MaxPool1d MaxPool2d "
    "AvgPool2d AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveMaxPool2d Upsample ReLU ReLU6 "
    "LeakyReLU ELU GELU SiLU Mish Hardswish Hardsigmoid Sigmoid Tanh Softmax LogSoftmax "
    "Embedding LSTM GRU RNN MultiheadAttention TransformerEncoder TransformerEncoderLayer "
    "CrossEntropyLoss NLLLoss MSELoss"
).split()
_TORCH_BARE_NAMES = {"Tensor": "torch", **dict.fromkeys(_TORCH_NN_BARE_NAMES, "torch.nn")}


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


def star_imports(source: Source, parent_code: str) -> Plan:
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
    free = free_names(source.tree)
    plan: Plan = []
    for position, node in enumerate(stars):
        exported = _exported_names(node.module)
        if not exported:
            continue  # e.g. torch is not installed here: leave it to the checker
        later = set().union(*(_exported_names(n.module) for n in stars[position + 1 :]))
        used = sorted((free & exported) - later)  # the last star import binds a name
        if used:
            statement = f"from {node.module} import {', '.join(used)}"
            plan.append((AppliedFix("star-import", statement), [source.replace(node, statement)]))
        elif edit := deletion(source, node):
            unused = AppliedFix("star-import", f"unused 'from {node.module} import *'")
            plan.append((unused, [edit]))
    return plan


def alias_from_its_module(source: Source, parent_code: str) -> Plan:
    """`from torch.nn import nn` / `from torch.nn.functional import F` (a module imported
    from itself) -> `import torch.nn as nn` / `import torch.nn.functional as F`."""
    plan: Plan = []
    for node in source.tree.body:
        if not (isinstance(node, ast.ImportFrom) and node.module and not node.level):
            continue
        selves = [
            alias
            for alias in node.names
            if alias.asname is None
            and _ALIAS_IMPORTS.get(alias.name) == f"import {node.module} as {alias.name}"
        ]
        if not selves:
            continue
        others = [source.text(alias) for alias in node.names if alias not in selves]
        lines = [f"from {node.module} import {', '.join(others)}"] if others else []
        lines += [_ALIAS_IMPORTS[alias.name] for alias in selves]
        fixes = [AppliedFix("alias-from-its-module", _ALIAS_IMPORTS[a.name]) for a in selves]
        plan += sharing_one_edit(fixes, [source.replace(node, "\n".join(lines))])
    return plan


def missing_imports(source: Source, parent_code: str) -> Plan:
    """A conventional alias or a stdlib name used but never bound -> its import."""
    free = free_names(source.tree)
    statements = [_ALIAS_IMPORTS[name] for name in _ALIAS_IMPORTS if name in free]
    by_module: dict[str, list[str]] = {}
    for name in sorted(free - set(_ALIAS_IMPORTS)):
        if module := _bare_name_modules().get(name):
            by_module.setdefault(module, []).append(name)
    statements += [f"from {m} import {', '.join(names)}" for m, names in sorted(by_module.items())]
    if not statements:
        return []
    edit = insert_top_level(source, "\n".join(statements), blank_lines=0)
    return sharing_one_edit([AppliedFix("missing-import", s) for s in statements], [edit])
