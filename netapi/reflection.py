"""Attributes named by strings: getattr/setattr/delattr/hasattr, and `match` class patterns.

A literal name is judged like `x.name`. A computed name (`'e' + 'xec'`, `getattr(x, name)`)
is judged by what it can spell: real models build layer names as a literal prefix and a
number (`f'layer{i}'`, `'conv%d' % i`, `for name in ('conv1', 'conv2')`), and those pass;
a name that may spell a dunder or any forbidden name is refused, whatever the owner, since
any method can be called with any `self`. hasattr only answers a bool, so its computed
names pass.
"""

import ast
from collections.abc import Iterator

from netapi.findings import Finding
from netapi.forbidden_names import (
    FORBIDDEN_BUILTINS,
    REFLECTION_CALLS,
    forbidden_attribute,
    forbidden_dotted,
    spellable_from,
)
from netapi.module_facts import ModuleFacts
from netapi.outcomes import Outcome
from netapi.scopes import Bindings

_MAX_DEPTH = 4  # name -> its assignment -> ...: real layer names resolve in one or two steps
_MAX_ALTERNATIVES = 32


def _pieces(expr: ast.AST, bindings: Bindings, depth: int) -> list[tuple[str, str]]:
    """Alternatives for the text of ``expr``, computed once per node and depth, at most
    _MAX_ALTERNATIVES of them (a web of assignments cannot make the check slow)."""
    key = ("text", id(expr), depth)
    if key not in bindings.memo:
        bindings.memo[key] = [("", "any")]  # a cycle of names reads as unknown
        texts = _texts(expr, bindings, depth)
        bindings.memo[key] = texts if len(texts) <= _MAX_ALTERNATIVES else [("", "any")]
    return bindings.memo[key]


def _texts(expr: ast.AST, bindings: Bindings, depth: int) -> list[tuple[str, str]]:
    """Alternatives for the text of ``expr``: (prefix, rest) where rest is 'none' (the text
    is complete), 'digits' (only digits, signs and literal text follow) or 'any'."""
    if depth > _MAX_DEPTH:
        return [("", "any")]
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [(expr.value, "none")]
    if isinstance(expr, ast.JoinedStr):
        return [_joined(expr, bindings, depth)]
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        texts = []
        for left, left_rest in _pieces(expr.left, bindings, depth + 1):
            if left_rest != "none":
                texts.append((left, left_rest))
                continue
            rights = _pieces(expr.right, bindings, depth + 1)
            texts += [(left + right, rest) for right, rest in rights]
        return texts
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
        if isinstance(expr.left, ast.Constant) and isinstance(expr.left.value, str):
            return [_percent(expr.left.value)]
    if _is_method_of_literal(expr, "format"):
        template = expr.func.value.value  # type: ignore[attr-defined]
        prefix, brace, _ = template.partition("{")
        return [(prefix, "any" if brace else "none")]
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "str":
        numeric = (
            len(expr.args) == 1
            and bindings.is_builtin(expr.func)
            and _is_int(expr.args[0], bindings, depth + 1)
        )
        return [("", "digits" if numeric else "any")]
    if isinstance(expr, ast.Name):
        return _name_texts(expr, bindings, depth)
    return [("", "any")]


def _percent(template: str) -> tuple[str, str]:
    prefix, percent, rest = template.partition("%")
    if not percent:
        return prefix, "none"
    numeric = all(part[:1] in ("d", "i") for part in rest.split("%"))
    return prefix, "digits" if numeric else "any"


def _is_method_of_literal(expr: ast.AST, method: str) -> bool:
    return (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == method
        and isinstance(expr.func.value, ast.Constant)
        and isinstance(expr.func.value.value, str)
    )


def _joined(expr: ast.JoinedStr, bindings: Bindings, depth: int) -> tuple[str, str]:
    prefix, rest = "", "none"
    for value in expr.values:
        if isinstance(value, ast.Constant) and rest == "none":
            prefix += str(value.value)
        elif isinstance(value, ast.FormattedValue):
            numeric = value.format_spec is None and _is_int(value.value, bindings, depth + 1)
            rest = "digits" if numeric and rest != "any" else "any"
    return prefix, rest


def _is_int(expr: ast.AST, bindings: Bindings, depth: int) -> bool:
    """Whether ``expr`` surely evaluates to an int (a loop index, a count, arithmetic of those)."""
    key = ("int", id(expr), depth)
    if key not in bindings.memo:
        bindings.memo[key] = False
        bindings.memo[key] = _int_uncached(expr, bindings, depth)
    return bindings.memo[key]


def _int_uncached(expr: ast.AST, bindings: Bindings, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, ast.Constant):
        return type(expr.value) is int
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add | ast.Sub | ast.Mult):
        return _is_int(expr.left, bindings, depth + 1) and _is_int(expr.right, bindings, depth + 1)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        return expr.func.id in ("len", "int") and bindings.is_builtin(expr.func)
    if not isinstance(expr, ast.Name):
        return False
    sites = bindings.sites(expr)
    if not sites:
        return False
    for site in sites:
        if site.loop is None:
            if site.value is None or not _is_int(site.value, bindings, depth + 1):
                return False
        elif not _loop_index(expr.id, site.loop, bindings):
            return False
    return True


def _loop_index(name: str, loop: ast.For | ast.comprehension, bindings: Bindings) -> bool:
    """`for i in range(...)` or `for i, x in enumerate(...)`: the name is an int."""
    call = loop.iter
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        return False
    if not bindings.is_builtin(call.func):
        return False
    target = loop.target
    if call.func.id == "range":
        return isinstance(target, ast.Name)
    return (
        call.func.id == "enumerate"
        and isinstance(target, ast.Tuple)
        and isinstance(target.elts[0], ast.Name)
        and target.elts[0].id == name
    )


def _name_texts(expr: ast.Name, bindings: Bindings, depth: int) -> list[tuple[str, str]]:
    sites = bindings.sites(expr)
    if not sites:
        return [("", "any")]
    texts: list[tuple[str, str]] = []
    for site in sites:
        if site.loop is None and site.value is not None:
            texts += _pieces(site.value, bindings, depth + 1)
        elif (
            site.loop is not None
            and isinstance(site.loop.target, ast.Name)
            and isinstance(site.loop.iter, ast.Tuple | ast.List)
        ):
            for element in site.loop.iter.elts:
                texts += _pieces(element, bindings, depth + 1)
        else:
            return [("", "any")]
    return texts


def literal_reason(name: str, owner: str | None) -> str | None:
    """Why a literal attribute name is refused, on this owner (a dotted name when known)."""
    if reason := forbidden_attribute(name):
        return reason
    if name in FORBIDDEN_BUILTINS:
        return f"'{name}' is a forbidden builtin"
    if owner and (dotted := forbidden_dotted(f"{owner}.{name}")):
        return f"'{dotted}' is not allowed"
    return None


def _call_findings(node: ast.Call, facts: ModuleFacts, bindings: Bindings) -> Iterator[Finding]:
    function = node.func.id  # type: ignore[attr-defined]
    where = (node.lineno, node.col_offset)
    if any(isinstance(arg, ast.Starred) for arg in node.args[:2]):
        message = f"{function}(*...) hides the attribute name; pass the owner and a literal name"
        yield Finding("computed-attribute", Outcome.FORBIDDEN_CODE, message, *where)
        return
    if len(node.args) < 2:
        return
    owners = facts.resolutions(node.args[0]) or {None}
    for text, rest in _pieces(node.args[1], bindings, 0):
        if rest == "none":
            reason = next(filter(None, (literal_reason(text, owner) for owner in owners)), None)
            if reason:
                message = f"{function}(..., {text!r}) reaches a forbidden name: {reason}"
                yield Finding("forbidden-attribute", Outcome.FORBIDDEN_CODE, message, *where)
                return
        elif function != "hasattr" and rest == "any" and (spelled := spellable_from(text)):
            yield Finding(
                "computed-attribute",
                Outcome.FORBIDDEN_CODE,
                f"{function}() with a computed name starting {text!r} may spell {spelled}; "
                "use a literal name, a literal prefix and a number (f'layer{i}'), or "
                "nn.ModuleList / nn.ModuleDict",
                *where,
            )
            return


def reflection_findings(facts: ModuleFacts, bindings: Bindings) -> list[Finding]:
    """getattr-family calls and class patterns that read a forbidden or unbounded attribute."""
    findings: list[Finding] = []
    for node in facts.nodes:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in REFLECTION_CALLS
        ):
            findings.extend(_call_findings(node, facts, bindings))
        elif isinstance(node, ast.MatchClass):
            for attribute in node.kwd_attrs:
                if reason := literal_reason(attribute, None):
                    findings.append(
                        Finding(
                            "forbidden-attribute",
                            Outcome.FORBIDDEN_CODE,
                            f"the class pattern reads {attribute}=: {reason}",
                            node.lineno,
                            node.col_offset,
                        )
                    )
    return findings
