"""Which decoder a captioner uses, read from its code (ast), never from its name.

A name says what the prompt asked for (`C5C-ResNetLSTM-...`); the code says what the model
wrote, and an LLM often writes something else. The families, as the NN-Caption tables
count them:

- Transformer: torch's transformer decoder modules (`nn.TransformerDecoder`,
  `nn.TransformerDecoderLayer`, `nn.Transformer`), or a decoder built from
  `nn.MultiheadAttention` with no recurrent layer;
- attention: a recurrent decoder (LSTM or GRU) that attends, through `nn.MultiheadAttention`
  or weights it computes itself (a softmax whose result weighs other values);
- LSTM, GRU: a recurrent decoder without attention (`nn.LSTM`/`nn.LSTMCell`, `nn.GRU`/
  `nn.GRUCell`);
- other: none of these; unknown: no code, or code that does not parse.

The decoder is the part that embeds tokens: the classes and functions that create an
`nn.Embedding`, and what they build or call, minus the image side (units that create a
convolution or a torchvision model). So a ViT encoder's self-attention in front of an LSTM
does not make the LSTM an attention decoder. Code with no embedding is read whole.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from netapi.module_facts import ModuleFacts
from search_core.identity import GRU, LSTM, OTHER_DECODER, TRANSFORMER

ATTENTION = "attention"
UNKNOWN_DECODER = "unknown"
DECODER_FAMILIES = (LSTM, GRU, TRANSFORMER, ATTENTION, OTHER_DECODER, UNKNOWN_DECODER)

_TRANSFORMER_DECODERS = frozenset({"TransformerDecoder", "TransformerDecoderLayer", "Transformer"})
_RECURRENT = {"LSTM": LSTM, "LSTMCell": LSTM, "GRU": GRU, "GRUCell": GRU}
_MULTIHEAD = "MultiheadAttention"
_IMAGE_SIDE = "image side"  # a unit that creates a convolution or a torchvision model
_EMBEDDING = "Embedding"
_CONVOLUTIONS = frozenset({"Conv1d", "Conv2d", "Conv3d"})
_WEIGHING_CALLS = frozenset({"bmm", "matmul", "einsum", "mul", "baddbmm"})
# The Net API's training methods are not architecture: a loss there may use a softmax.
_TRAINING_METHODS = frozenset({"train_setup", "learn"})


@dataclass
class _Unit:
    """A class or module-level function: what it creates and which local units it uses."""

    features: set[str] = field(default_factory=set)
    uses: set[str] = field(default_factory=set)


@lru_cache(maxsize=4096)  # a report asks once per candidate and table
def decoder_family(code: str) -> str:
    """The decoder family of a captioner's code: one of DECODER_FAMILIES."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):  # ValueError: NUL bytes
        return UNKNOWN_DECODER
    facts = ModuleFacts.of(tree)
    units = _units(tree, facts)
    if not units:
        return UNKNOWN_DECODER
    features = set().union(*(units[name].features for name in _decoder_scope(units)))
    return _family(features)


def _family(features: set[str]) -> str:
    if TRANSFORMER in features:
        return TRANSFORMER
    recurrent = [family for family in (LSTM, GRU) if family in features]
    if recurrent:
        return ATTENTION if ATTENTION in features else recurrent[0]
    return TRANSFORMER if ATTENTION in features and _MULTIHEAD in features else OTHER_DECODER


def _decoder_scope(units: dict[str, _Unit]) -> set[str]:
    """The units that embed tokens and every non-image unit they reach; all units if none
    embeds."""
    anchors = {name for name, unit in units.items() if _EMBEDDING in unit.features}
    if not anchors:
        return set(units)
    scope, pending = set(anchors), list(anchors)
    while pending:
        for used in units[pending.pop()].uses:
            if used in units and used not in scope and _IMAGE_SIDE not in units[used].features:
                scope.add(used)
                pending.append(used)
    return scope


def _units(tree: ast.Module, facts: ModuleFacts) -> dict[str, _Unit]:
    top_level = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    names = {node.name for node in top_level}
    units = {}
    for node in top_level:
        unit = _Unit()
        used = list(getattr(node, "bases", ()))
        used += [n.func for n in _architecture_nodes(node) if isinstance(n, ast.Call)]
        for expr in used:
            unit.features |= _module_features(expr, facts)
            if isinstance(expr, ast.Name) and expr.id in names:
                unit.uses.add(expr.id)
        if _computes_attention(node, facts):
            unit.features.add(ATTENTION)
        units[node.name] = unit
    return units


def _architecture_nodes(unit: ast.AST) -> Iterator[ast.AST]:
    """Every node of the unit outside the Net API's training methods."""
    pending = [unit]
    while pending:
        for child in ast.iter_child_nodes(pending.pop()):
            if isinstance(child, ast.FunctionDef) and child.name in _TRAINING_METHODS:
                continue
            yield child
            pending.append(child)


def _torch_names(node: ast.AST, facts: ModuleFacts) -> set[str]:
    """The last component of every torch or torchvision name `node` may stand for."""
    found = set()
    for dotted in facts.resolutions(node):
        root, _, rest = dotted.partition(".")
        if root == "torchvision" and rest.startswith("models."):
            found.add("torchvision.models")
        elif root == "torch":
            found.add(dotted.rsplit(".", 1)[-1])
    return found


def _module_features(node: ast.AST, facts: ModuleFacts) -> set[str]:
    """What creating (or subclassing) `node` adds to a unit."""
    features = set()
    for name in _torch_names(node, facts):
        if name in _TRANSFORMER_DECODERS:
            features.add(TRANSFORMER)
        elif name in _RECURRENT:
            features.add(_RECURRENT[name])
        elif name == _MULTIHEAD:
            features |= {_MULTIHEAD, ATTENTION}
        elif name == _EMBEDDING:
            features.add(_EMBEDDING)
        elif name in _CONVOLUTIONS or name == "torchvision.models":
            features.add(_IMAGE_SIDE)
    return features


def _computes_attention(unit: ast.AST, facts: ModuleFacts) -> bool:
    """Whether the unit weighs values by a softmax it computed: `(features * alpha).sum(1)`,
    `torch.bmm(alpha, values)`, `alpha @ values`. A softmax only sampled from is no attention."""
    softmax_modules = _softmax_module_attributes(unit, facts)
    weights: set[str] = set()
    nodes = list(_architecture_nodes(unit))
    for node in nodes:
        if isinstance(node, ast.Assign) and _is_softmax(node.value, facts, softmax_modules):
            weights |= {_target_name(target) for target in node.targets} - {""}

    def weighted(operand: ast.AST) -> bool:
        return any(
            _is_softmax(child, facts, softmax_modules)
            or (isinstance(child, ast.Name | ast.Attribute) and _target_name(child) in weights)
            for child in ast.walk(operand)
        )

    for node in nodes:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.MatMult):
            if weighted(node.left) or weighted(node.right):
                return True
        if isinstance(node, ast.Call) and _callee(node) in _WEIGHING_CALLS:
            if any(weighted(arg) for arg in node.args):
                return True
    return False


def _softmax_module_attributes(unit: ast.AST, facts: ModuleFacts) -> set[str]:
    """`self.att_softmax` for `self.att_softmax = nn.Softmax(dim=1)`: calling it is a softmax."""
    found = set()
    for node in _architecture_nodes(unit):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and "Softmax" in _torch_names(node.value.func, facts)
        ):
            found |= {_target_name(target) for target in node.targets} - {""}
    return found


def _is_softmax(node: ast.AST, facts: ModuleFacts, softmax_modules: set[str]) -> bool:
    """A call of softmax: `F.softmax(x)`, `torch.softmax(x)`, `x.softmax(-1)`, an
    `nn.Softmax` attribute; log_softmax (a loss's) is not one."""
    if not isinstance(node, ast.Call):
        return False
    return _callee(node) == "softmax" or _target_name(node.func) in softmax_modules


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _target_name(node: ast.AST) -> str:
    """`alpha` or `self.alpha`; empty for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return ""
