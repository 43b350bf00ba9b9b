"""Deterministic fixes of the mechanical slips a small LLM makes, applied before the sandbox.

Like a linter's `--fix`: each rule (one module per family) edits the text at positions taken
from the AST, so comments, formatting and every untouched character survive. Fixes are never
silent: `apply_fixes` returns every fix it applied, and the caller stores them on the
candidate. An unparseable module comes back unchanged, a rule whose edits would not parse is
dropped whole, and fixed code fixes to itself with nothing recorded.
"""

from collections.abc import Callable
from dataclasses import dataclass

from netapi.parsing import parse_candidate
from search_core.generation.fixes.contract import (
    criterion_to_criteria,
    flatten_keeps_batch,
    in_shape_channels,
    super_init_first,
)
from search_core.generation.fixes.editing import AppliedFix, Plan, Source, edited
from search_core.generation.fixes.hyperparameters import (
    hyperparameters_from_parent,
    hyperparameters_function,
    undeclared_hyperparameters,
)
from search_core.generation.fixes.imports import (
    alias_from_its_module,
    missing_imports,
    star_imports,
)
from search_core.generation.fixes.layer_sizes import RULE as LAYER_SIZE_RULE
from search_core.generation.fixes.layer_sizes import fix_layer_size
from search_core.generation.fixes.names import parent_local_bindings, torch_misspellings

__all__ = [
    "FIX_RULES",
    "LAYER_SIZE_RULE",
    "AppliedFix",
    "Fixed",
    "apply_fixes",
    "fix_layer_size",
]


@dataclass(frozen=True)
class Fixed:
    """The code after the fixes, and the fixes in the order they were applied."""

    code: str
    fixes: tuple[AppliedFix, ...]


# Each rule with the name its fixes are recorded under, in the order they are applied.
_RULES: tuple[tuple[str, Callable[[Source, str], Plan]], ...] = (
    ("star-import", star_imports),
    ("alias-from-its-module", alias_from_its_module),
    ("missing-import", missing_imports),
    ("parent-local-binding", parent_local_bindings),
    ("torch-misspelling", torch_misspellings),
    ("hyperparameters-function", hyperparameters_function),
    ("hyperparameters-from-parent", hyperparameters_from_parent),
    ("undeclared-hyperparameter", undeclared_hyperparameters),
    ("criterion-to-criteria", criterion_to_criteria),
    ("in-shape-channels", in_shape_channels),
    ("super-init-first", super_init_first),
    ("flatten-keeps-batch", flatten_keeps_batch),
)

# Every rule a candidate's fixes may name: those above, then the one applied after a check
# from the error it reported (fix_layer_size).
FIX_RULES = (*(name for name, _ in _RULES), LAYER_SIZE_RULE)


def apply_fixes(code: str, parent_code: str = "") -> Fixed:
    """Apply every rule, in FIX_RULES order, to ``code``; ``parent_code`` is the parent model's."""
    applied: list[AppliedFix] = []
    for _, rule in _RULES:
        tree = parse_candidate(code).tree
        if tree is None:
            break
        plan = rule(Source(code, tree), parent_code)
        fixed = edited(code, [edit for _, edits in plan for edit in edits])
        if fixed is None or fixed == code or parse_candidate(fixed).tree is None:
            continue  # a rule that would break the module is dropped whole
        code = fixed
        applied.extend(fix for fix, _ in plan)
    return Fixed(code, tuple(applied))
