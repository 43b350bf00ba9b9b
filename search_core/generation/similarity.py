"""Structural near-copy detection: MinHash over shingles of a module's canonical syntax tree.

A candidate whose md5 or structure hash differs from its parent's can still be the parent
with one constant changed or a variable renamed. Its tokens (below) hardly change, so the
Jaccard similarity of its token shingles with the parent's stays near 1; a design that
applies an idea (a new block, used in forward) adds shingles the parent lacks.

Tokens, in a deterministic pre-order walk of `identity.canonical_tree` (docstrings
dropped, the module's own identifiers renamed):

- a node's type name (`Call`, `BinOp`, `For`, ...) and operator types (`Add`, `Mult`, ...);
  load/store contexts and imports are skipped (a copy that drops `import torch` or adds an
  unused import is still a copy);
- a name as the canonical tree spells it: `self`, `torch`, `nn`, builtins, or `v` for every
  one of the module's own (one placeholder, not `v0`, `v1`, ...: numbered placeholders
  shift after an inserted helper, and VGG with an unused function added read 0.18);
- an attribute chain on a name as one dotted token: `nn.Conv2d`, `torch.cat`, `F.relu`,
  `self.v` -- the API called is structure;
- a keyword argument's name (`padding`, `bias`);
- constants bucketed, see `_constant_token`; strings dropped.
"""

import ast
import hashlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from search_core.identity import canonical_tree

__all__ = ["DEFAULT_THRESHOLD", "SIGNATURE_SIZE", "NearCopy", "Signature", "nearest", "signature"]

SIGNATURE_SIZE = 128  # hash functions; the estimate's standard error is about 0.03 at J = 0.9
# Measured (tests/unit/search_core/generation/test_similarity.py and recorded answers):
# - copies: VGG with every variable renamed, new comments and a width changed 1.0; one
#   kernel size changed 0.93, one layer dropped 0.95, an unused helper added 0.93; real
#   LLM answers that returned VGG unchanged but for imports and a dropped function 0.93-0.98;
# - applied ideas: VGG + a squeeze-and-excitation block used in forward 0.78, ResNet vs
#   SE-ResNet 0.84 (exactly 0.86), VGG with every width doubled 0.85;
# - distinct classification families 0.10-0.47.
# 0.9 lies between the two groups. Known limit: ResNetGRU vs ResNetLSTM (a decoder cell
# swapped, four lines of 120) measures 0.94 and reads as a near copy.
DEFAULT_THRESHOLD = 0.9

_PRIME = 2**61 - 1  # Mersenne prime: the universal hashes' modulus, above any 61-bit shingle
_SEED = 20240611  # fixed: signatures are stored, so they must not change between runs
_rng = random.Random(_SEED)
_A = tuple(_rng.randrange(1, _PRIME) for _ in range(SIGNATURE_SIZE))
_B = tuple(_rng.randrange(0, _PRIME) for _ in range(SIGNATURE_SIZE))
del _rng


@dataclass(frozen=True)
class Signature:
    """A module's MinHash: SIGNATURE_SIZE minimum hashes of its token shingles."""

    values: tuple[int, ...]

    def similarity(self, other: "Signature") -> float:
        """Estimated Jaccard similarity of the two shingle sets, in [0, 1]."""
        if len(self.values) != len(other.values):
            raise ValueError(
                f"signatures of different sizes: {len(self.values)} vs {len(other.values)}"
            )
        same = sum(a == b for a, b in zip(self.values, other.values, strict=True))
        return same / len(self.values)

    def to_list(self) -> list[int]:
        """The values as a JSON-storable list."""
        return list(self.values)

    @classmethod
    def from_list(cls, values: Iterable[int]) -> "Signature":
        """The signature `to_list` stored."""
        return cls(tuple(int(value) for value in values))


@dataclass(frozen=True)
class NearCopy:
    """A design that a candidate copies, and how closely."""

    label: str  # who it copies, e.g. "its parent VGG", "prompt example 2", "candidate X"
    similarity: float


def signature(code: str, *, shingle: int = 5) -> Signature | None:
    """MinHash of the code's `shingle`-token windows; None when the code does not parse."""
    if shingle < 1:
        raise ValueError(f"shingle must be at least 1, got {shingle}")
    try:
        tree = canonical_tree(code, positional=False)
    except (SyntaxError, ValueError):
        return None
    tokens = [token.encode("utf-8") for token in _tokens(tree)]
    shingle = min(shingle, len(tokens))  # a tiny module is one shingle of all it has
    hashes = {
        _hash64(b"\x00".join(tokens[start : start + shingle]))
        for start in range(len(tokens) - shingle + 1)
    }
    return Signature(_min_hashes(hashes))


def nearest(
    candidate: Signature, others: Iterable[tuple[str, Signature]], threshold: float
) -> NearCopy | None:
    """The most similar of `others` at or above `threshold` (the first on a tie), else None."""
    best: NearCopy | None = None
    for label, other in others:
        score = candidate.similarity(other)
        if score >= threshold and (best is None or score > best.similarity):
            best = NearCopy(label, score)
    return best


# MinHash in SWAR form: one Python int holds all SIGNATURE_SIZE hashes of a shingle, one per
# 128-bit lane, so each step below is a handful of big-int operations per shingle instead
# of SIGNATURE_SIZE small ones (about 4x faster). a*x + b < 2**123 never carries into the
# next lane; a lane's top bit is the guard bit of the lane-wise comparisons.
_LANE = 128
_TOP = _LANE - 1


def _lanes(values: Iterable[int]) -> int:
    packed = 0
    for index, value in enumerate(values):
        packed |= value << (_LANE * index)
    return packed


_A_LANES, _B_LANES = _lanes(_A), _lanes(_B)
_ONES = _lanes([1] * SIGNATURE_SIZE)
_PRIMES = _ONES * _PRIME
_LOW61 = _ONES * (2**61 - 1)  # a lane's low 61 bits
_LOW67 = _ONES * (2**67 - 1)  # the rest of a lane after `>> 61`, without the next lane's bits
_GUARD = _ONES << _TOP


def _min_hashes(hashes: Iterable[int]) -> tuple[int, ...]:
    """min over x of (a_i * x + b_i) mod p, for every i: exactly the formula, lane-wise."""
    best = _PRIMES  # above any value mod p
    for x in hashes:
        y = _A_LANES * x + _B_LANES  # < 2**123 in every lane
        y = (y & _LOW61) + ((y >> 61) & _LOW67)  # 2**61 == 1 (mod p): now < 2**63
        y = (y & _LOW61) + ((y >> 61) & _LOW67)  # now < p + 4
        at_least_p = (((y | _GUARD) - _PRIMES) & _GUARD) >> _TOP  # 1 in lanes where y >= p
        y -= at_least_p * _PRIME  # now y mod p exactly
        smaller = ((((best | _GUARD) - y) & _GUARD) >> _TOP) * (2**_TOP - 1)  # best >= y
        best ^= (best ^ y) & smaller
    mask = 2**_LANE - 1
    return tuple((best >> (_LANE * i)) & mask for i in range(SIGNATURE_SIZE))


def _hash64(data: bytes) -> int:
    # Stable across processes, unlike the salted hash(); reduced below the prime.
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") % _PRIME


def _tokens(node: ast.AST) -> Iterator[str]:
    """Pre-order tokens of a canonical tree (children in field order, which is source order)."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.expr_context | ast.Import | ast.ImportFrom):
            continue  # imports are not structure: the API used is read where it is called
        if isinstance(node, ast.Constant):
            token = _constant_token(node.value)
            if token is not None:
                yield token
            continue
        if isinstance(node, ast.Name):
            yield node.id
            continue
        if isinstance(node, ast.Attribute) and (dotted := _dotted(node)) is not None:
            yield dotted
            continue
        yield type(node).__name__
        if isinstance(node, ast.Attribute):
            yield "." + node.attr  # on a call or subscript: `x.view(...)`, `f(x).mean`
        elif isinstance(node, ast.keyword):
            yield f"{node.arg}="  # None for **kwargs: "None="
        children = list(ast.iter_child_nodes(node))
        stack.extend(reversed(children))


def _dotted(node: ast.expr) -> str | None:
    """`nn.Conv2d` for an attribute chain that ends on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _constant_token(value: object) -> str | None:
    """A constant's bucket: what changes the design reads differently, what tunes it less so.

    Integers 0..9 keep their value: kernel sizes, strides, paddings, dims and repeats (a 1x1
    and a 3x3 convolution are different layers). Larger integers are widths and sizes, read
    by octave (`int~2^6` is 64..127): a nudged width (96 -> 112) reads the same, a doubled
    one does not, so the idea tree's width scaling is not taken for a copy. Floats (dropout,
    eps, scales) read `float`. True/False/None/Ellipsis keep their value (bias=False is
    structure); strings are dropped: they name things, they do not wire them.
    """
    if isinstance(value, bool) or value is None or value is Ellipsis:
        return repr(value)
    if isinstance(value, int):
        return str(value) if 0 <= value <= 9 else f"int~2^{abs(value).bit_length() - 1}"
    if isinstance(value, float):
        return "float"
    if isinstance(value, complex):
        return "complex"
    return None
