"""Candidate identity: LEMUR names, families and decoders, and the three hashes of code.

A LEMUR name is `<prefix>-<md5>`. The prefix is `C<k>C-<family>` for an NN-Caption
candidate (k classification snippets were in its prompt) or the bare family, e.g.
`C5C-ResNetTransformer-<md5>`, `C10C-RESNETLSTM-<md5>`, `AlexNet`; the md5 is
`normalised_md5` of the code. nasforge names candidates the same way, so names move
between the two unchanged. What each hash hashes:

- `source_md5`: the exact UTF-8 source text. The audit key that joins the search's, the
  sandbox's and the trainer's records; rpc/audit.py defines it, as every service records it.
- `normalised_md5`: the code's tokens without whitespace or comments. The md5 in a name,
  stored as the candidate's `code_md5`.
- `structure_hash`: the module's syntax tree with its own identifiers renamed and its
  docstrings dropped: the same layers and wiring under other names hash alike.
"""

import ast
import builtins
import hashlib
import io
import re
import tokenize

from rpc.audit import source_md5

__all__ = [
    "DECODERS",
    "GRU",
    "LSTM",
    "OTHER_DECODER",
    "TRANSFORMER",
    "canonical_tree",
    "decoder_of",
    "family_of",
    "model_name",
    "normalised_code",
    "normalised_md5",
    "prefix_of",
    "snippets_in",
    "source_md5",
    "split_captioner",
    "structure_hash",
]

TRANSFORMER, LSTM, GRU = "Transformer", "LSTM", "GRU"
DECODERS = (TRANSFORMER, LSTM, GRU)  # the captioners' decoder types, matched in this order
OTHER_DECODER = "other"  # a family that names none of DECODERS

# `<prefix>-<md5>`; 8 hex digits are enough, so a shortened md5 (`nasforge zoo list`) still parses.
_NAME = re.compile(r"^(?P<prefix>.+)-(?P<md5>[0-9a-fA-F]{8,})$", re.DOTALL)
_CAMPAIGN = re.compile(r"^C(?P<k>\d+)C-(?P<family>.+)$", re.IGNORECASE | re.DOTALL)
_MD5_SUFFIX = re.compile(r"-[0-9a-fA-F]{32}$")


def model_name(prefix: str, code: str) -> str:
    """LEMUR-style name, e.g. `C5C-ResNetLSTM-<md5>`."""
    return f"{prefix}-{normalised_md5(code)}"


def prefix_of(name: str) -> str:
    """`C5C-ResNetLSTM` from `C5C-ResNetLSTM-<md5>`; a name without an md5 is its own prefix."""
    match = _NAME.match(name)
    return match["prefix"] if match else name


def family_of(name: str) -> str:
    """`ResNetLSTM` from `C5C-ResNetLSTM-<md5>` or `C5C-ResNetLSTM`; a zoo name is its own."""
    match = _CAMPAIGN.match(name)
    rest = match["family"] if match else name
    return _MD5_SUFFIX.sub("", rest) or name


def snippets_in(name: str) -> int | None:
    """k of a `C<k>C-` name or prefix: the classification snippets its prompt held."""
    match = _CAMPAIGN.match(prefix_of(name))
    return int(match["k"]) if match else None


def decoder_of(family: str) -> str:
    """LSTM, GRU or Transformer when the family names it (any case), else OTHER_DECODER."""
    lowered = family.lower()
    for decoder in DECODERS:
        if decoder.lower() in lowered:
            return decoder
    return OTHER_DECODER


def split_captioner(family: str) -> tuple[str, str]:
    """`ResNetLSTM` -> ("ResNet", "LSTM"); ("", "") when no known decoder ends the name."""
    for decoder in DECODERS:
        if family.lower().endswith(decoder.lower()) and len(family) > len(decoder):
            return family[: -len(decoder)], decoder
    return "", ""


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


def normalised_md5(code: str) -> str:
    """MD5 of the code's tokens without whitespace or comments: the md5 in a LEMUR name."""
    return hashlib.md5(normalised_code(code).encode("utf-8"), usedforsecurity=False).hexdigest()


_KEPT_NAMES = frozenset(dir(builtins)) | {"torch", "nn", "F", "math", "self", "Net"}


class _Canonicaliser(ast.NodeTransformer):
    """Renames the module's own identifiers in order of first use and drops docstrings."""

    def __init__(self, positional: bool = True) -> None:
        self._names: dict[str, str] = {}
        self._positional = positional

    def _rename(self, name: str) -> str:
        if name in _KEPT_NAMES:
            return name
        if not self._positional:
            return "v"
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


def canonical_tree(code: str, *, positional: bool = True) -> ast.Module:
    """The module's syntax tree with its own identifiers renamed and its docstrings dropped.

    Own identifiers become `v0`, `v1`, ... in order of first use, or all `v` when not
    `positional` (then inserting a helper early does not renumber everything after it).
    Raises SyntaxError (or ValueError, for a null byte) when the code does not parse.
    """
    tree = ast.parse(code)
    _drop_docstring(tree)
    return _Canonicaliser(positional).visit(tree)


def structure_hash(code: str) -> str:
    """Hash of the module's structure: the same layers and wiring under other names match.

    Returns the normalised md5 when the code does not parse (no structure to compare).
    """
    try:
        tree = canonical_tree(code)
    except (SyntaxError, ValueError):
        return normalised_md5(code)
    canonical = ast.dump(tree, annotate_fields=False)
    return hashlib.md5(canonical.encode("utf-8"), usedforsecurity=False).hexdigest()
