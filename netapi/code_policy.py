"""What a candidate may import and touch: the import allowlist and the forbidden-code rules.

Reads the module's `ast` only. Names are resolved through the module's own imports and
assignments (`import torch as T; T.hub.load(...)`, `M = torch; M.load`), so renaming does not
hide a call. The lists are in forbidden_names, attributes named by strings in reflection,
strings Python evaluates in evaluated_strings. A lint for fast, precise feedback: the
container, not this module, is the boundary.
"""

import ast
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from netapi.evaluated_strings import annotation_findings, format_findings
from netapi.findings import Finding, warning
from netapi.forbidden_names import (
    FORBIDDEN_ANYWHERE,
    FORBIDDEN_ATTRIBUTES,
    FORBIDDEN_BUILTINS,
    FORBIDDEN_MODULE_ATTRIBUTES,
    FORBIDDEN_TORCH_NAMES,
    PRETRAINED_WEIGHTS,
    REFLECTION_CALLS,
    anywhere_rule,
    dotted_reason,
    forbidden_attribute,
    forbidden_dotted,
    reached_module,
)
from netapi.module_facts import ModuleFacts
from netapi.name_index import NameIndex
from netapi.outcomes import Outcome
from netapi.reachability import dead_functions
from netapi.reflection import reflection_findings
from netapi.scopes import Bindings

__all__ = [  # the lists live in forbidden_names; named here for the callers that know them here
    "DEFAULT_ALLOWED_MODULES",
    "FORBIDDEN_ATTRIBUTES",
    "FORBIDDEN_BUILTINS",
    "FORBIDDEN_MODULE_ATTRIBUTES",
    "FORBIDDEN_TORCH_NAMES",
    "CodePolicy",
    "code_policy_findings",
]

log = logging.getLogger(__name__)

# The default allowlist (ARCHITECTURE.md): what a model is built from, and standard-library
# modules as far as they are no door to the interpreter's internals, files, processes or the
# network. The doors that an allowed module still has are refused by name (forbidden_names:
# STDLIB_DOORS, private names of standard-library modules, module attributes such as
# `typing.sys`), so allowing a module here allows its ordinary use only.
#   torch        the model itself (its downloading, loading and file parts are refused).
#   torchvision  the building blocks LEMUR's models import: ops.misc (Conv2dNormActivation,
#                MLP, Permute), ops.stochastic_depth, models.* and their helpers
#                (models._utils._make_divisible, models._api.WeightsEnum). Refused: weights=
#                and pretrained= arguments, get_state_dict, load_state_dict_from_url,
#                _internally_replaced_utils, extension, datasets, io, utils.save_image.
#   math, numbers, statistics   arithmetic (statistics.mean of a few values).
#   typing, __future__, dataclasses, enum, abc   declaring types and configs
#                (enum.global_enum and Enum._convert_ write or read any module's globals).
#   collections, functools, itertools, operator, heapq, bisect   containers and functional
#                helpers (operator.attrgetter and methodcaller take computed names).
#   copy         deepcopy of a block (copy.dispatch_table is pickle's, refused).
#   random       seeds and sampling (random._os and the other private names are refused).
#   re, string   parsing layer names (string.Formatter reads computed attributes, refused).
#   warnings     warning about an odd hyperparameter (showwarning, formatwarning and
#                warn_explicit read lines of any file, refused).
#   gc           gc.collect between steps (get_objects, get_referrers, get_referents,
#                garbage and callbacks hand out any object, refused).
# Not allowed, since the module itself is the door: os, sys, subprocess, socket, pathlib,
# io, shutil, tempfile (files, processes, network); importlib, inspect, types, builtins,
# ctypes, weakref (the interpreter's internals: inspect reaches frames, types.CodeType
# builds bytecode); pickle, marshal, copyreg (data run as code); logging (its handlers
# write files); threading, multiprocessing, asyncio (work outside the measured check);
# numpy and PIL (numpy.load, Image.open: files; the image carries them for torchvision
# only); time, contextlib and the rest: no model needs them. A deployment widens the list
# with extra_allowed_modules.
DEFAULT_ALLOWED_MODULES = frozenset(
    {
        "torch",
        "torchvision",
        "math",
        "numbers",
        "statistics",
        "typing",
        "__future__",
        "dataclasses",
        "enum",
        "abc",
        "collections",
        "functools",
        "itertools",
        "operator",
        "heapq",
        "bisect",
        "copy",
        "random",
        "re",
        "string",
        "warnings",
        "gc",
    }
)

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
        if forbidden_dotted(module):
            return False
        parts = module.split(".")
        return any(
            ".".join(parts[:depth]) in self.allowed_modules for depth in range(1, len(parts) + 1)
        )


class PolicySettings(Protocol):
    """What a service's settings say about the policy (sandbox_runner and llm_gateway)."""

    name_index_path: Path
    extra_allowed_modules: list[str]


def load_policy(settings: PolicySettings) -> CodePolicy:
    """The sandbox's policy: the allowlist (widened by settings) and its image's name index."""
    index = None
    if settings.name_index_path.exists():
        index = NameIndex.load(settings.name_index_path)
    else:
        log.warning(
            "no name index at %s: torch names are not judged statically (run `make runtime-image`)",
            settings.name_index_path,
        )
    allowed = DEFAULT_ALLOWED_MODULES | frozenset(settings.extra_allowed_modules)
    return CodePolicy(allowed_modules=allowed, index=index)


def _imported_modules(node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    if node.module is None:
        return
    yield node.module
    for alias in node.names:  # `from torch import hub` imports the module torch.hub
        if alias.name != "*" and forbidden_dotted(f"{node.module}.{alias.name}"):
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
            if module := reached_module(alias.name):
                yield Finding(
                    "forbidden-module-attribute",
                    Outcome.FORBIDDEN_CODE,
                    f"'from {node.module} import {alias.name}' reaches the module '{module}',"
                    " which candidates may not use",
                    **where,
                )
            elif alias.name in FORBIDDEN_ANYWHERE and not forbidden_dotted(
                f"{node.module}.{alias.name}"
            ):  # `from torchvision.models._api import load_state_dict_from_url`
                message = forbidden_attribute(alias.name) or ""
                yield Finding(anywhere_rule(alias.name), Outcome.FORBIDDEN_CODE, message, **where)
    for module in _imported_modules(node):
        if policy.allows(module):
            continue
        if reason := dotted_reason(module):
            yield Finding(
                "forbidden-import",
                Outcome.FORBIDDEN_CODE,
                f"import of '{module}' is not allowed: {reason[1]}",
                **where,
            )
        elif not policy.module_exists(module):
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


def _name_findings(node: ast.Name, bindings: Bindings, called: set[int]) -> Iterator[Finding]:
    where = {"line": node.lineno, "column": node.col_offset}
    if node.id in FORBIDDEN_BUILTINS and not bindings.is_shadowed(node):
        rebound = not isinstance(node.ctx, ast.Load) or node.id in bindings.scopes.module.sites
        message = (
            f"'{node.id}' bound at module or class level is still the builtin wherever that "
            "binding did not run (a dead branch, a del): rename it"
            if rebound
            else f"'{node.id}' is not allowed in a candidate"
        )
        yield Finding("forbidden-call", Outcome.FORBIDDEN_CODE, message, **where)
    elif node.id in REFLECTION_CALLS and id(node) not in called and not bindings.is_shadowed(node):
        yield Finding(
            "forbidden-call",
            Outcome.FORBIDDEN_CODE,
            f"'{node.id}' may only be called directly, not passed around",
            **where,
        )
    elif node.id == "__match_args__":
        yield Finding(
            "forbidden-attribute",
            Outcome.FORBIDDEN_CODE,
            "defining '__match_args__' lets a class pattern read any attribute",
            **where,
        )


def _chain_findings(outer: ast.Attribute, facts: ModuleFacts) -> Iterator[Finding]:
    """One attribute chain (`T.hub.load`), judged from its outermost node."""
    chain: list[ast.Attribute] = []
    node: ast.AST = outer
    while isinstance(node, ast.Attribute):
        chain.append(node)
        node = node.value
    for link in reversed(chain):  # interpreter internals and modules, wherever they are
        if link.attr in FORBIDDEN_ATTRIBUTES:
            message = f"'.{link.attr}' reaches interpreter internals"
            yield Finding(
                "forbidden-attribute", Outcome.FORBIDDEN_CODE, message, link.lineno, link.col_offset
            )
        elif module := reached_module(link.attr):
            message = f"'.{link.attr}' reaches the module '{module}', which candidates may not use"
            yield Finding(
                "forbidden-module-attribute",
                Outcome.FORBIDDEN_CODE,
                message,
                link.lineno,
                link.col_offset,
            )
    for resolved in sorted(facts.resolutions(outer)):  # every name the owner may stand for
        if reason := dotted_reason(resolved):
            rule, message = reason
            yield Finding(rule, Outcome.FORBIDDEN_CODE, message, outer.lineno, outer.col_offset)
            return
    for link in reversed(chain):  # an owner the aliases do not know: distinctive names
        if link.attr in FORBIDDEN_ANYWHERE:
            rule = anywhere_rule(link.attr)
            message = forbidden_attribute(link.attr) or ""
            yield Finding(rule, Outcome.FORBIDDEN_CODE, message, link.lineno, link.col_offset)
            return


def code_policy_findings(facts: ModuleFacts, policy: CodePolicy) -> list[Finding]:
    """Every import, name and attribute the policy forbids, and every module that does not exist."""
    bindings = Bindings(facts.tree)  # builds its scope map only when a name needs it
    called = {id(node.func) for node in facts.nodes if isinstance(node, ast.Call)}
    inner = {id(node.value) for node in facts.nodes if isinstance(node, ast.Attribute)}
    findings: list[Finding] = []
    for node in facts.nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            findings.extend(_import_findings(node, policy))
        elif isinstance(node, ast.Name):
            findings.extend(_name_findings(node, bindings, called))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            findings.extend(format_findings(node))
        elif isinstance(node, ast.Attribute) and id(node) not in inner:
            findings.extend(_chain_findings(node, facts))
        elif isinstance(node, ast.Call):
            findings.extend(_pretrained_findings(node, facts))
    findings += reflection_findings(facts, bindings)
    findings += annotation_findings(facts)
    return _weights_in_dead_code_warned(findings, facts.tree)


def _weights_in_dead_code_warned(findings: list[Finding], tree: ast.Module) -> list[Finding]:
    """A weight fetch in a function the model never reaches (LEMUR's models keep
    torchvision's `_load_state_dict` beside `Net`) is a warning, not a refusal: LEMUR trains
    such a model from scratch, and the container has no network if the lint is wrong."""
    if not any(finding.rule == "pretrained-weights" for finding in findings):
        return findings
    dead = dead_functions(tree)
    kept: list[Finding] = []
    for finding in findings:
        holder = next((f for f in dead if f.holds(finding.line)), None)
        if finding.rule != "pretrained-weights" or holder is None:
            kept.append(finding)
            continue
        message = f"{finding.message} (in {holder.name}(), which the model never calls)"
        kept.append(warning("unreachable-weights", message, finding.line, finding.column))
    return kept


def _weight_keywords(call: ast.Call) -> Iterator[tuple[str, ast.AST]]:
    """(name, value) of the weights=/pretrained= keywords of a call, `**{...}` literals included
    (weights_backbone= and pretrained_backbone= of the detection builders too)."""
    pairs: list[tuple[str, ast.AST]] = []
    for keyword in call.keywords:
        if keyword.arg is not None:
            pairs.append((keyword.arg, keyword.value))
        elif isinstance(keyword.value, ast.Dict):
            pairs += [
                (key.value, value)
                for key, value in zip(keyword.value.keys, keyword.value.values, strict=True)
                if isinstance(key, ast.Constant) and isinstance(key.value, str)
            ]
    for name, value in pairs:
        no_weights = isinstance(value, ast.Constant) and value.value in (None, False)
        if name.startswith(("weights", "pretrained")) and not no_weights:
            yield name, value


def _builder(call: ast.Call, facts: ModuleFacts) -> str | None:
    """The torchvision.models callable a call builds with, directly or through
    functools.partial, through every import alias and assignment; None for other calls."""
    targets = facts.resolutions(call.func)
    if "functools.partial" in targets and call.args:
        targets = facts.resolutions(call.args[0])
    return next((t for t in sorted(targets) if t.startswith("torchvision.models.")), None)


def _pretrained_findings(node: ast.Call, facts: ModuleFacts) -> Iterator[Finding]:
    """torchvision.models.x(weights=...) / (pretrained=True) fetches weights at run time."""
    target = _builder(node, facts)
    if target is None:
        return
    for name, _ in _weight_keywords(node):
        yield Finding(
            "pretrained-weights",
            Outcome.FORBIDDEN_CODE,
            f"{target}({name}=...) {PRETRAINED_WEIGHTS}",
            node.lineno,
            node.col_offset,
        )
