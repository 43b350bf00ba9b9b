"""Static checks of the Net API contract: Net, its methods and signatures, hyperparameters.

The contract (LEMUR's):
    def supported_hyperparameters() -> set[str]
    class Net(nn.Module):
        def __init__(self, in_shape, out_shape, prm, device)
        def train_setup(self, prm)      # sets self.criteria (one loss or a tuple), self.optimizer
        def learn(self, train_data)
        def forward(self, x, ...)       # captioning: forward(images, captions=None)
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from netapi.criteria import CRITERIA, CRITERION, CRITERION_MESSAGE, CRITERION_RULE
from netapi.findings import Finding, warning
from netapi.module_facts import ModuleFacts, dotted_name
from netapi.outcomes import Outcome
from netapi.tasks import RESERVED_PRM_KEYS

Function = ast.FunctionDef | ast.AsyncFunctionDef

# Method name -> the positional calls (argument counts after self) the harness makes.
_CALLS_FOR_CLASSIFICATION = {
    "__init__": (4,),
    "train_setup": (1,),
    "learn": (1,),
    "forward": (1,),
}
_CALLS_FOR_CAPTIONING = {**_CALLS_FOR_CLASSIFICATION, "forward": (1, 2)}
_SIGNATURE_HINTS = {
    "__init__": "__init__(self, in_shape, out_shape, prm, device)",
    "train_setup": "train_setup(self, prm)",
    "learn": "learn(self, train_data)",
    "forward": "forward(self, x)",
}
_CAPTIONING_FORWARD_HINT = "forward(self, images, captions=None)"


def _accepts(function: Function, positional: int, *, bound: bool) -> bool:
    """Whether ``function`` can be called with ``positional`` arguments (plus self if bound)."""
    args = function.args
    params = [*args.posonlyargs, *args.args]
    given = positional + (1 if bound else 0)
    required = len(params) - len(args.defaults)
    required_kwonly = [
        arg
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
        if default is None
    ]
    if required_kwonly or given < required:
        return False
    return given <= len(params) or args.vararg is not None


def _top_level(tree: ast.Module) -> tuple[dict[str, ast.ClassDef], dict[str, Function]]:
    """Top-level classes and functions by name; `Net = SomeClass` makes SomeClass the Net."""
    classes: dict[str, ast.ClassDef] = {}
    functions: dict[str, Function] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = node
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions[node.name] = node
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name)
            and node.value.id in classes
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    classes[target.id] = classes[node.value.id]
    return classes, functions


def _class_chain(net: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> list[ast.ClassDef]:
    """Net and the module's own classes it inherits from, most derived first."""
    chain, pending, seen = [], [net], set()
    while pending:
        cls = pending.pop(0)
        if cls.name in seen:
            continue
        seen.add(cls.name)
        chain.append(cls)
        pending.extend(
            classes[b.id] for b in cls.bases if isinstance(b, ast.Name) and b.id in classes
        )
    return chain


def _methods(chain: list[ast.ClassDef]) -> dict[str, Function]:
    methods: dict[str, Function] = {}
    for cls in reversed(chain):  # derived classes override their bases
        for node in cls.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                methods[node.name] = node
    return methods


def net_methods(tree: ast.Module) -> dict[str, Function]:
    """The methods of the top-level class Net, inherited ones included; empty without a Net."""
    classes, _ = _top_level(tree)
    net = classes.get("Net")
    return {} if net is None else _methods(_class_chain(net, classes))


# torch.nn containers a Net may subclass directly.
_MODULE_BASES = frozenset({"Module", "Sequential", "ModuleList", "ModuleDict"})


def is_module_base(base: ast.expr, aliases: dict[str, str]) -> bool:
    """Whether a class base is a torch.nn module class (through the import aliases)."""
    resolved = dotted_name(base, aliases) or ""
    return resolved.startswith("torch.nn.") or resolved.rsplit(".", 1)[-1] in _MODULE_BASES


def _inherits_module(chain: list[ast.ClassDef], aliases: dict[str, str]) -> bool:
    return any(is_module_base(base, aliases) for cls in chain for base in cls.bases)


def _self_attributes_assigned(chain: list[ast.ClassDef]) -> set[str]:
    assigned: set[str] = set()
    for cls in chain:
        for node in ast.walk(cls):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign):
                targets = [node.target]
            for target in targets:
                for element in ast.walk(target):
                    if (
                        isinstance(element, ast.Attribute)
                        and isinstance(element.value, ast.Name)
                        and element.value.id == "self"
                    ):
                        assigned.add(element.attr)
    return assigned


def declared_hyperparameters(function: Function) -> set[str] | None:
    """The literal set returned by supported_hyperparameters(), or None if not literal."""
    returns = [node for node in ast.walk(function) if isinstance(node, ast.Return)]
    if len(returns) != 1 or returns[0].value is None:
        return None
    return literal_names(returns[0].value)


def literal_names(value: ast.expr) -> set[str] | None:
    """The strings of a literal set, list or tuple (or set()/frozenset() of one), else None."""
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("set", "frozenset")
        and len(value.args) <= 1
    ):
        if not value.args:
            return set()
        value = value.args[0]
    if not isinstance(value, ast.Set | ast.List | ast.Tuple):
        return None
    names = set()
    for element in value.elts:
        if not (isinstance(element, ast.Constant) and isinstance(element.value, str)):
            return None
        names.add(element.value)
    return names


def _string_constants_outside(nodes: tuple[ast.AST, ...], excluded: ast.AST) -> set[str]:
    inside = {id(node) for node in ast.walk(excluded)}
    return {
        node.value
        for node in nodes
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside
    }


def prm_subscript_keys(nodes: tuple[ast.AST, ...]) -> Iterator[tuple[str, ast.Subscript]]:
    """Keys read as prm['key'] or self.prm['key'] (reads that fail on a missing key)."""
    for node in nodes:
        if not (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)):
            continue
        container = node.value
        name = (
            container.attr
            if isinstance(container, ast.Attribute)
            else getattr(container, "id", None)
        )
        key = node.slice
        if name == "prm" and isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield key.value, node


def _hyperparameter_findings(facts: ModuleFacts, function: Function) -> Iterator[Finding]:
    declared = declared_hyperparameters(function)
    if declared is None:
        return
    used = _string_constants_outside(facts.nodes, function)
    for name in sorted(declared - used):
        # LEMUR trains such a model (the value is only never used): a warning, not a refusal.
        yield warning(
            "unread-hyperparameter",
            f"hyperparameter {name!r} is declared in supported_hyperparameters() "
            "but the model never reads it",
            function.lineno,
            function.col_offset,
        )
    for name in sorted(declared & RESERVED_PRM_KEYS):
        yield Finding(
            "reserved-hyperparameter",
            Outcome.API_NONCOMPLIANCE,
            f"{name!r} is set by the trainer and cannot be declared as a hyperparameter",
            function.lineno,
            function.col_offset,
        )
    for key, node in prm_subscript_keys(facts.nodes):
        if key not in declared and key not in RESERVED_PRM_KEYS:
            yield Finding(
                "undeclared-hyperparameter",
                Outcome.API_NONCOMPLIANCE,
                f"prm[{key!r}] is read but {key!r} is not declared in "
                "supported_hyperparameters(); prm will not contain it",
                node.lineno,
                node.col_offset,
            )


def _signature_findings(
    methods: dict[str, Function], net: ast.ClassDef, captioning: bool
) -> Iterator[Finding]:
    calls = _CALLS_FOR_CAPTIONING if captioning else _CALLS_FOR_CLASSIFICATION
    for name, counts in calls.items():
        method = methods.get(name)
        hint = (
            _CAPTIONING_FORWARD_HINT
            if captioning and name == "forward"
            else (_SIGNATURE_HINTS[name])
        )
        if method is None:
            yield Finding(
                "missing-method",
                Outcome.API_NONCOMPLIANCE,
                f"class Net has no method {name}; expected {hint}",
                net.lineno,
                net.col_offset,
            )
        elif isinstance(method, ast.AsyncFunctionDef):
            yield Finding(
                "bad-signature",
                Outcome.API_NONCOMPLIANCE,
                f"Net.{name} must not be async; expected {hint}",
                method.lineno,
                method.col_offset,
            )
        elif not all(_accepts(method, count, bound=True) for count in counts):
            yield Finding(
                "bad-signature",
                Outcome.API_NONCOMPLIANCE,
                f"Net.{name} cannot be called as the Net API calls it; expected {hint}",
                method.lineno,
                method.col_offset,
            )


# Layers whose first argument (or this keyword) is the number of input channels/features.
_CHANNEL_ARGUMENT = {
    "Conv1d": "in_channels",
    "Conv2d": "in_channels",
    "Conv3d": "in_channels",
    "ConvTranspose1d": "in_channels",
    "ConvTranspose2d": "in_channels",
    "ConvTranspose3d": "in_channels",
    "Linear": "in_features",
    "BatchNorm1d": "num_features",
    "BatchNorm2d": "num_features",
    "BatchNorm3d": "num_features",
    "InstanceNorm2d": "num_features",
}


def _is_batch_dimension(node: ast.expr, in_shape: str, batch_names: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in batch_names
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == in_shape
        and isinstance(node.slice, ast.Constant)
        and node.slice.value == 0
    )


def in_shape_parameter(init: Function) -> str | None:
    """The name __init__ gives its in_shape (its second parameter), None when it has none."""
    params = [*init.args.posonlyargs, *init.args.args]
    return params[1].arg if len(params) >= 2 else None


def batch_size_bindings(init: Function, in_shape: str) -> dict[str, tuple[ast.Subscript, ...]]:
    """Names bound to the batch size in __init__ (`c = in_shape[0]`), with the reads bound."""
    bindings: dict[str, tuple[ast.Subscript, ...]] = {}
    for node in ast.walk(init):
        if isinstance(node, ast.Assign) and _is_batch_dimension(node.value, in_shape, set()):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bindings[target.id] = (*bindings.get(target.id, ()), node.value)
    return bindings


@dataclass(frozen=True)
class BatchAsChannels:
    """A layer in __init__ given in_shape[0], the batch size, as its channels or features."""

    layer: str
    keyword: str
    in_shape: str
    argument: ast.expr  # what the layer gets: in_shape[0], or a name bound to it
    reads: tuple[ast.Subscript, ...]  # the in_shape[0] reads that should say in_shape[1]


def batch_as_channels(init: Function) -> Iterator[BatchAsChannels]:
    """Every layer of __init__ that gets the batch size where it expects channels."""
    in_shape = in_shape_parameter(init)
    if in_shape is None:
        return
    bindings = batch_size_bindings(init, in_shape)
    batch_names = set(bindings)
    for node in ast.walk(init):
        if not isinstance(node, ast.Call):
            continue
        layer = (dotted_name(node.func, {}) or "").rsplit(".", 1)[-1]
        keyword = _CHANNEL_ARGUMENT.get(layer)
        if keyword is None:
            continue
        candidates = node.args[:1] + [k.value for k in node.keywords if k.arg == keyword]
        for argument in candidates:
            if _is_batch_dimension(argument, in_shape, batch_names):
                reads = bindings[argument.id] if isinstance(argument, ast.Name) else (argument,)
                yield BatchAsChannels(layer, keyword, in_shape, argument, reads)


def _batch_as_channels(init: Function) -> Iterator[Finding]:
    """in_shape[0] is the batch size; giving it to a layer as channels is a shape bug."""
    for slip in batch_as_channels(init):
        yield Finding(
            "batch-as-channels",
            Outcome.SHAPE_MISMATCH,
            f"{slip.layer} gets {slip.in_shape}[0], the batch size, as its {slip.keyword}; "
            f"channels are {slip.in_shape}[1]",
            slip.argument.lineno,
            slip.argument.col_offset,
        )


def _training_attribute_findings(chain: list[ast.ClassDef], net: ast.ClassDef) -> Iterator[Finding]:
    assigned = _self_attributes_assigned(chain)
    if CRITERIA not in assigned:
        if CRITERION in assigned:
            yield warning(CRITERION_RULE, CRITERION_MESSAGE, net.lineno, net.col_offset)
        else:
            yield Finding(
                "missing-criteria",
                Outcome.API_NONCOMPLIANCE,
                "Net never sets self.criteria (a loss or a tuple of losses) in train_setup",
                net.lineno,
                net.col_offset,
            )
    if "optimizer" not in assigned:
        yield Finding(
            "missing-optimizer",
            Outcome.API_NONCOMPLIANCE,
            "Net never sets self.optimizer in train_setup",
            net.lineno,
            net.col_offset,
        )


def api_contract_findings(facts: ModuleFacts, *, captioning: bool) -> list[Finding]:
    """Every breach of the Net API that can be seen without running the code."""
    classes, functions = _top_level(facts.tree)
    findings: list[Finding] = []
    supported = functions.get("supported_hyperparameters")
    if supported is None:
        findings.append(
            Finding(
                "missing-supported-hyperparameters",
                Outcome.API_NONCOMPLIANCE,
                "the module has no top-level supported_hyperparameters() "
                "returning the set of hyperparameter names",
            )
        )
    elif not _accepts(supported, 0, bound=False):
        findings.append(
            Finding(
                "bad-signature",
                Outcome.API_NONCOMPLIANCE,
                "supported_hyperparameters() must take no arguments",
                supported.lineno,
                supported.col_offset,
            )
        )
    else:
        findings.extend(_hyperparameter_findings(facts, supported))
    net = classes.get("Net")
    if net is None:
        findings.append(
            Finding(
                "missing-net-class",
                Outcome.API_NONCOMPLIANCE,
                "the module has no top-level class Net(nn.Module)",
            )
        )
        return findings
    chain = _class_chain(net, classes)
    if not _inherits_module(chain, facts.aliases):
        findings.append(
            Finding(
                "net-not-module",
                Outcome.API_NONCOMPLIANCE,
                "class Net must inherit from torch.nn.Module",
                net.lineno,
                net.col_offset,
            )
        )
    methods = _methods(chain)
    findings.extend(_signature_findings(methods, net, captioning))
    findings.extend(_training_attribute_findings(chain, net))
    if "__init__" in methods:
        findings.extend(_batch_as_channels(methods["__init__"]))
    return findings
