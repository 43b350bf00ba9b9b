"""What makes two candidates the same: the normalised code hash, the module structure, the name.

LEMUR names a model `<prefix>-<md5>` where the md5 is of the code with whitespace and
comments removed; nasforge does the same, so names move between the two unchanged.
"""

import ast
import builtins
import hashlib
import io
import tokenize

_SKIPPED_TOKENS = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
)


def normalised_code(code: str) -> str:
    """The code's tokens without comments or whitespace (falls back to dropping whitespace)."""
    try:
        tokens = tokenize.generate_tokens(io.StringIO(code).readline)
        return "".join(tok.string for tok in tokens if tok.type not in _SKIPPED_TOKENS)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return "".join(code.split())


def code_md5(code: str) -> str:
    """MD5 of the code with whitespace and comments removed."""
    return hashlib.md5(normalised_code(code).encode("utf-8"), usedforsecurity=False).hexdigest()


def model_name(prefix: str, code: str) -> str:
    """LEMUR-style name, e.g. `C5C-ResNetLSTM-<md5>`."""
    return f"{prefix}-{code_md5(code)}"


_KEPT_NAMES = frozenset(dir(builtins)) | {"torch", "nn", "F", "math", "self", "Net"}


class _Canonicaliser(ast.NodeTransformer):
    """Renames the module's own identifiers in order of first use and drops docstrings."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def _rename(self, name: str) -> str:
        if name in _KEPT_NAMES:
            return name
        return self._names.setdefault(name, f"v{len(self._names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._rename(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._rename(node.arg)
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = self._rename(node.name)
        node.returns = None
        _drop_docstring(node)
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.name = self._rename(node.name)
        _drop_docstring(node)
        return self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        # self.<attr> names are the module's own choice; torch.nn.<attr> is structure.
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            node.attr = self._rename(node.attr)
        return self.generic_visit(node)


def _drop_docstring(node: ast.AST) -> None:
    body = getattr(node, "body", None)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            body.pop(0)
            if not body:
                body.append(ast.Pass())


def structure_hash(code: str) -> str:
    """Hash of the module's structure: the same layers and wiring under other names match.

    Returns the code md5 when the code does not parse (no structure to compare).
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code_md5(code)
    _drop_docstring(tree)
    canonical = ast.dump(_Canonicaliser().visit(tree), annotate_fields=False)
    return hashlib.md5(canonical.encode("utf-8"), usedforsecurity=False).hexdigest()
