"""From the code a model wrote to the code a candidate is checked with.

In edit mode the answer (the changed classes and methods) is merged into the module it was
asked to change; then the deterministic fixes run. Both are recorded on the candidate, never
silent: the report counts what was valid as written apart from what the fixes made valid.
"""

from dataclasses import dataclass, field
from typing import Any

from search_core.generation.fixes import apply_fixes
from search_core.generation.merge import merge_into_parent


@dataclass(frozen=True)
class ShapedCode:
    """A candidate's code and how it was made from the answer."""

    code: str
    fixes: tuple[dict[str, str], ...] = ()
    merge: dict[str, Any] = field(default_factory=dict)  # empty: the answer was used as written

    @property
    def fixed(self) -> bool:
        return bool(self.fixes)


def shape_answer(answer: str, *, merge_into: str, parent: str, fix: bool) -> ShapedCode:
    """`answer` merged into `merge_into` (edit mode; "" in whole mode), then fixed (if `fix`)
    with `parent` as the module a missing piece may be taken from.

    An answer that cannot be merged (it does not parse, holds nothing to merge, or the module
    it was to change does not parse) is used as written, so the check reports what is wrong.
    """
    code, merge = answer, {}
    if merge_into.strip():
        try:
            merged = merge_into_parent(merge_into, answer)
        except ValueError:  # NotMergeable, or a module to repair that does not parse itself
            pass
        else:
            code = merged.code
            merge = {
                "whole_module": merged.whole_module,
                "replaced": list(merged.replaced),
                "added": list(merged.added),
            }
    if not fix:
        return ShapedCode(code, (), merge)
    fixed = apply_fixes(code, parent)
    return ShapedCode(fixed.code, tuple(f.to_dict() for f in fixed.fixes), merge)


def idea_applied(unused: list[str], parent_unused: list[str]) -> bool:
    """Whether the candidate's own additions all learn: a parameter that gets no gradient
    and did not already go without one in the parent belongs to something the candidate
    added (or cut off), so its idea is not on the path from input to loss."""
    return not set(unused) - set(parent_unused)
