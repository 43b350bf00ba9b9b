"""What a candidate may import and touch: the import allowlist and the forbidden-code rules.

Reads the module's `ast` only. Names are resolved through the module's own import aliases
(`import torch as T; T.hub.load(...)` is `torch.hub.load`), so renaming does not hide a call.
"""

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from netapi.findings import Finding
from netapi.module_facts import ModuleFacts, dotted_name
from netapi.name_index import NameIndex
from netapi.outcomes import Outcome
from netapi.scopes import Bindings

# The default allowlist of ARCHITECTURE.md: torch and a few pure standard-library modules.
DEFAULT_ALLOWED_MODULES = frozenset(
    {
        "torch",
        "math",
        "typing",
        "collections",
        "functools",
        "itertools",
        "numbers",
        "dataclasses",
        "__future__",
    }
)

# Parts of torch that download, load native code, spawn processes, open sockets or touch
# files. Importing or naming any of them (or anything below them) is forbidden code.
FORBIDDEN_TORCH_NAMES = frozenset(
    {
        "torch.hub",
        "torch.utils.model_zoo",
        "torch.utils.cpp_extension",
        "torch.utils.tensorboard",
        "torch.distributed",
        "torch.multiprocessing",
        "torch.package",
        "torch.serialization",
        "torch.onnx",
        "torch.load",
        "torch.save",
        "torch.from_file",
        "torch.jit.load",
        "torch.jit.save",
        "torch.ops.load_library",
        "torch.classes.load_library",
        "torchvision.models.utils",
        "torchvision.datasets",
        "torchvision.io",
    }
)

# Builtins that execute code, reach the interpreter's internals, or do I/O.
FORBIDDEN_BUILTINS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "__import__",
        "open",
        "breakpoint",
        "globals",
        "vars",
        "__builtins__",
        "__loader__",
        "__spec__",
    }
)

# Attributes that lead from any object to the interpreter's internals (sandbox escapes).
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "__subclasses__",
        "__globals__",
        "__builtins__",
        "__code__",
        "__closure__",
        "__mro__",
        "__bases__",
        "__base__",
        "__loader__",
        "__spec__",
        "__import__",
        "__reduce__",
        "__reduce_ex__",
        "__getattribute__",
        "__dict__",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "ag_frame",
        "tb_frame",
        "co_code",
    }
)

# Modules an allowed module imported for itself (`torch.os`, `typing.sys`,
# `collections._sys`, `from torch import importlib`): reaching one of them through an
# attribute or a from-import is forbidden code, whatever the owner and with or without
# leading underscores. Only names no model has a reason to use as an attribute.
FORBIDDEN_MODULE_ATTRIBUTES = frozenset(
    {
        "os",
        "sys",
        "subprocess",
        "importlib",
        "imp",
        "socket",
        "ssl",
        "shutil",
        "ctypes",
        "builtins",
        "pathlib",
        "pickle",
        "marshal",
        "multiprocessing",
        "threading",
        "thread",
        "posix",
        "nt",
        "pty",
        "fcntl",
        "mmap",
        "runpy",
        "zipimport",
        "pkgutil",
        "sysconfig",
        "tempfile",
        "urllib",
        "http",
        "asyncio",
    }
)

_REFLECTION_CALLS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
# Attribute traversal inside a str.format template: '{0.__globals__}'.format(f).
_FORMAT_TRAVERSAL = re.compile(r"\{[^{}]*\.(\w+)[^{}]*\}")

# Third-party modules that the sandbox image carries beside torch: importing them is
# forbidden rather than hallucinated. A name in neither list does not exist there.
SANDBOX_THIRD_PARTY_MODULES = frozenset(
    {
        "torchvision",
        "numpy",
        "PIL",
        "sympy",
        "mpmath",
        "networkx",
        "jinja2",
        "markupsafe",
        "filelock",
        "fsspec",
        "typing_extensions",
        "triton",
    }
)


def default_module_exists(module: str) -> bool:
    """Whether a top-level module exists in the sandbox image (stdlib or a known package).

    Submodules of torch are assumed to exist here; the name index built with the sandbox
    image refines this (see sandbox_runner).
    """
    root = module.split(".", 1)[0]
    return root in sys.stdlib_module_names or root in SANDBOX_THIRD_PARTY_MODULES or root == "torch"


@dataclass(frozen=True)
class CodePolicy:
    """The import allowlist, and the name index that tells forbidden from hallucinated names.

    Without an index, modules are judged by default_module_exists and torch names are not
    judged at all; with one (built with the sandbox image), both follow the image exactly.
    """

    allowed_modules: frozenset[str] = DEFAULT_ALLOWED_MODULES
    index: NameIndex | None = None

    def module_exists(self, module: str) -> bool:
        if self.index is not None:
            return self.index.module_exists(module)
        return default_module_exists(module)

    def allows(self, module: str) -> bool:
        if _forbidden_torch_name(module):
            return False
        parts = module.split(".")
        return any(
            ".".join(parts[:depth]) in self.allowed_modules for depth in range(1, len(parts) + 1)
        )


def _reached_module(name: str) -> str | None:
    """The forbidden module an attribute or imported name stands for, if any."""
    module = name.lstrip("_")
    return module if module in FORBIDDEN_MODULE_ATTRIBUTES else None


def _forbidden_torch_name(dotted: str) -> str | None:
    """The forbidden name that ``dotted`` is or lies under, if any."""
    for name in FORBIDDEN_TORCH_NAMES:
        if dotted == name or dotted.startswith(name + "."):
            return name
    return None


def _imported_modules(node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    if node.module is None:
        return
    yield node.module
    for alias in node.names:  # `from torch import hub` imports the module torch.hub
        if alias.name != "*" and _forbidden_torch_name(f"{node.module}.{alias.name}"):
            yield f"{node.module}.{alias.name}"


def _import_findings(node: ast.Import | ast.ImportFrom, policy: CodePolicy) -> Iterator[Finding]:
    where = {"line": node.lineno, "column": node.col_offset}
    if isinstance(node, ast.ImportFrom) and node.level:
        yield Finding(
            "relative-import",
            Outcome.FORBIDDEN_CODE,
            "relative imports are not allowed: a candidate is a single module",
            **where,
        )
        return
    if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
        yield Finding(
            "star-import",
            Outcome.API_NONCOMPLIANCE,
            f"'from {node.module} import *' hides which names the model uses",
            **where,
        )
    if isinstance(node, ast.ImportFrom):
        for alias in node.names:
            if module := _reached_module(alias.name):
                yield Finding(
                    "forbidden-module-attribute",
                    Outcome.FORBIDDEN_CODE,
                    f"'from {node.module} import {alias.name}' reaches the module '{module}',"
                    " which candidates may not use",
                    **where,
                )
    for module in _imported_modules(node):
        if policy.allows(module):
            continue
        if not policy.module_exists(module):
            yield Finding(
                "unknown-module",
                Outcome.HALLUCINATED_API,
                f"module '{module}' does not exist in the sandbox environment",
                subject=module,
                **where,
            )
        else:
            allowed = ", ".join(sorted(policy.allowed_modules - {"__future__"}))
            yield Finding(
                "forbidden-import",
                Outcome.FORBIDDEN_CODE,
                f"import of '{module}' is not allowed; allowed modules: {allowed}",
                **where,
            )


def _call_findings(node: ast.Call, aliases: dict[str, str]) -> Iterator[Finding]:
    """getattr(x, '__globals__'), getattr(torch, 'hub'): reflection on a forbidden name."""
    if not (isinstance(node.func, ast.Name) and node.func.id in _REFLECTION_CALLS):
        return
    if len(node.args) < 2 or not isinstance(node.args[1], ast.Constant):
        return
    name = node.args[1].value
    if not isinstance(name, str):
        return
    owner = dotted_name(node.args[0], aliases)
    if (
        name in FORBIDDEN_ATTRIBUTES
        or _reached_module(name)
        or (owner and _forbidden_torch_name(f"{owner}.{name}"))
    ):
        yield Finding(
            "forbidden-attribute",
            Outcome.FORBIDDEN_CODE,
            f"{node.func.id}(..., {name!r}) reaches a forbidden name",
            node.lineno,
            node.col_offset,
        )


def _name_findings(node: ast.Name, bindings: Bindings, called: set[int]) -> Iterator[Finding]:
    where = {"line": node.lineno, "column": node.col_offset}
    if node.id in FORBIDDEN_BUILTINS and not bindings.is_shadowed(node):
        yield Finding(
            "forbidden-call",
            Outcome.FORBIDDEN_CODE,
            f"'{node.id}' is not allowed in a candidate",
            **where,
        )
    elif (
        node.id in _REFLECTION_CALLS and id(node) not in called and not (bindings.is_shadowed(node))
    ):
        yield Finding(
            "forbidden-call",
            Outcome.FORBIDDEN_CODE,
            f"'{node.id}' may only be called directly, not passed around",
            **where,
        )


def _format_findings(node: ast.Constant) -> Iterator[Finding]:
    for match in _FORMAT_TRAVERSAL.finditer(node.value):
        if match.group(1) in FORBIDDEN_ATTRIBUTES:
            yield Finding(
                "forbidden-attribute",
                Outcome.FORBIDDEN_CODE,
                f"format template reaches '.{match.group(1)}'",
                node.lineno,
                node.col_offset,
            )


def code_policy_findings(facts: ModuleFacts, policy: CodePolicy) -> list[Finding]:
    """Every import, name and attribute the policy forbids, and every module that does not exist."""
    aliases = facts.aliases
    bindings = Bindings(facts.tree)  # builds its scope map only when a name needs it
    called = {id(node.func) for node in facts.nodes if isinstance(node, ast.Call)}
    findings: list[Finding] = []
    for node in facts.nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            findings.extend(_import_findings(node, policy))
        elif isinstance(node, ast.Name):
            findings.extend(_name_findings(node, bindings, called))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            findings.extend(_format_findings(node))
        elif isinstance(node, ast.Attribute):
            if node.attr in FORBIDDEN_ATTRIBUTES:
                findings.append(
                    Finding(
                        "forbidden-attribute",
                        Outcome.FORBIDDEN_CODE,
                        f"'.{node.attr}' reaches interpreter internals",
                        node.lineno,
                        node.col_offset,
                    )
                )
                continue
            if module := _reached_module(node.attr):
                findings.append(
                    Finding(
                        "forbidden-module-attribute",
                        Outcome.FORBIDDEN_CODE,
                        f"'.{node.attr}' reaches the module '{module}', which candidates "
                        "may not use",
                        node.lineno,
                        node.col_offset,
                    )
                )
                continue
            resolved = dotted_name(node, aliases)
            if resolved is not None and resolved in FORBIDDEN_TORCH_NAMES:
                findings.append(
                    Finding(
                        "forbidden-torch-api",
                        Outcome.FORBIDDEN_CODE,
                        f"'{resolved}' downloads, loads or writes outside the "
                        "model and is not allowed",
                        node.lineno,
                        node.col_offset,
                    )
                )
        elif isinstance(node, ast.Call):
            findings.extend(_call_findings(node, aliases))
            findings.extend(_pretrained_findings(node, aliases))
    return findings


def _pretrained_findings(node: ast.Call, aliases: dict[str, str]) -> Iterator[Finding]:
    """torchvision.models.x(pretrained=True / weights=...) downloads weights at run time."""
    target = dotted_name(node.func, aliases) or ""
    if not target.startswith("torchvision.models."):
        return
    for keyword in node.keywords:
        value = keyword.value
        is_none_or_false = isinstance(value, ast.Constant) and value.value in (None, False)
        if keyword.arg in ("pretrained", "weights") and not is_none_or_false:
            yield Finding(
                "pretrained-weights",
                Outcome.FORBIDDEN_CODE,
                f"{target}({keyword.arg}=...) downloads weights; the sandbox has no "
                "network and candidates must train from scratch",
                node.lineno,
                node.col_offset,
            )
