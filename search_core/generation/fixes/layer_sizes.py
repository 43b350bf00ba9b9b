"""The one layer whose declared size disagrees with what reached it, fixed from the error.

Applied after a check, not before: torch's own error names both sizes. When
`mat1 and mat2 shapes cannot be multiplied (2x4096 and 512x10)` is reported and the module
constructs exactly one `Linear(512, 10)`, its 512 becomes 4096; the same for a convolution's
input channels and a batch norm's features. Where no layer declares 512 as a number, the one
`Linear(<a name or expression>, 10)` is taken. Two layers that both fit are ambiguous: left to
the model's repair.
"""

import ast
import re
from dataclasses import dataclass

from search_core.generation.fixes.editing import AppliedFix, Edit, Source

RULE = "layer-size-from-error"


@dataclass(frozen=True)
class _Mismatch:
    """A layer of one of `layers` constructed with `declared` (and `other`, when not None) as
    its first argument `keyword` (and its second, `other_keyword`) must be constructed with
    `actual`."""

    layers: frozenset[str]
    keyword: str
    other_keyword: str
    declared: int
    other: int | None
    actual: int


def _linear(match: re.Match) -> _Mismatch:
    # (batch x features) @ (in_features x out_features): the weight is transposed.
    _, features, in_features, out_features = map(int, match.groups())
    return _Mismatch(
        frozenset({"Linear"}),
        "in_features",
        "out_features",
        in_features,
        out_features,
        features,
    )


def _convolution(match: re.Match) -> _Mismatch:
    out_channels, in_channels, got = map(int, match.groups())
    return _Mismatch(
        frozenset({"Conv1d", "Conv2d", "Conv3d"}),
        "in_channels",
        "out_channels",
        in_channels,
        out_channels,
        got,
    )


def _norm(match: re.Match) -> _Mismatch:
    got, declared = map(int, match.groups())
    return _Mismatch(
        frozenset({"BatchNorm1d", "BatchNorm2d", "BatchNorm3d"}),
        "num_features",
        "",
        declared,
        None,
        got,
    )


_ERRORS = (
    (
        re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)"),
        _linear,
    ),
    (
        re.compile(
            r"Given groups=1, weight of size \[(\d+), (\d+)(?:, \d+)*\], "
            r"expected input\[\d+, (\d+)(?:, \d+)*\] to have \d+ channels"
        ),
        _convolution,
    ),
    (re.compile(r"running_mean should contain (\d+) elements not (\d+)"), _norm),
)


def _mismatch(message: str) -> _Mismatch | None:
    for pattern, reading in _ERRORS:
        if match := pattern.search(message):
            found = reading(match)
            return found if found.actual != found.declared else None
    return None


def _constant(node: ast.expr | None) -> int | None:
    """The value of an integer literal or of arithmetic on them (`512 * 7 * 7`); else None."""
    if isinstance(node, ast.Constant):
        value = node.value
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(node, ast.BinOp):
        left, right = _constant(node.left), _constant(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.FloorDiv) and right:
            return left // right
    return None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position and not any(isinstance(a, ast.Starred) for a in call.args):
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def fix_layer_size(code: str, message: str) -> tuple[str, AppliedFix] | None:
    """The code with the one layer the error names resized, and the fix; None when the error
    is not a layer-size mismatch or no single layer fits it."""
    mismatch = _mismatch(message)
    if mismatch is None:
        return None
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    exact: list[tuple[ast.Call, ast.expr]] = []  # the declared size, as a number
    loose: list[tuple[ast.Call, ast.expr]] = []  # a size by name, the other size as reported
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or _callee(call) not in mismatch.layers:
            continue
        size = _argument(call, 0, mismatch.keyword)
        if size is None:
            continue
        other = None
        if mismatch.other is not None:
            other = _constant(_argument(call, 1, mismatch.other_keyword))
            if other is not None and other != mismatch.other:
                continue
        declared = _constant(size)
        if declared == mismatch.declared:
            exact.append((call, size))
        elif declared is None and other is not None:
            loose.append((call, size))
    fitting = exact or loose
    if len(fitting) != 1:
        return None
    call, size = fitting[0]
    source = Source(code, tree)
    edit: Edit = source.replace(size, str(mismatch.actual))
    fixed = code[: edit.start] + edit.text + code[edit.end :]
    detail = (
        f"{_callee(call)} {mismatch.keyword} {source.text(size)} -> {mismatch.actual} "
        f"(line {call.lineno})"
    )
    return fixed, AppliedFix(RULE, detail)
