"""Hyperparameter rules: supported_hyperparameters() as the function the contract names, taken
from the parent when missing, and holding every prm key the model reads."""

import ast

from netapi.api_contract import (
    declared_hyperparameters,
    literal_names,
    net_methods,
    prm_subscript_keys,
)
from netapi.parsing import parse_candidate
from netapi.tasks import RESERVED_PRM_KEYS
from search_core.engine.feedback import (
    DEFAULT_HYPERPARAMETERS,
    FALLBACK_VALUE,
    proposed_hyperparameters,
)
from search_core.generation.fixes.editing import (
    AppliedFix,
    Edit,
    Plan,
    Source,
    insert_top_level,
    sharing_one_edit,
)

SUPPORTED = "supported_hyperparameters"


def module_function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return found[-1] if found else None


def module_assignment(tree: ast.Module, name: str) -> ast.Assign | ast.AnnAssign | None:
    """The first top-level `name = value` (annotated or not)."""
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return node
    return None


def _names_literal(node: ast.expr | None) -> bool:
    """A literal collection of strings, as supported_hyperparameters() may return."""
    return node is not None and literal_names(node) is not None


def _as_set(source: Source, value: ast.expr) -> str:
    """The literal's text, as a set when it was a list or tuple."""
    if not isinstance(value, ast.List | ast.Tuple):
        return source.text(value)
    elements = [source.text(element) for element in value.elts]
    return "{" + ", ".join(elements) + "}" if elements else "set()"


def hyperparameters_function(source: Source, parent_code: str) -> Plan:
    """A supported_hyperparameters() that is not a top-level function returning a literal."""
    tree = source.tree
    function = module_function(tree, SUPPORTED)
    if function is not None:
        return _literal_return(source, function)
    assignment = module_assignment(tree, SUPPORTED)
    if assignment is not None:
        return _assignment_to_function(source, assignment)
    method = net_methods(tree).get(SUPPORTED)
    if method is None or declared_hyperparameters(method) is None:
        return []
    returned = next(n.value for n in ast.walk(method) if isinstance(n, ast.Return))
    text = f"def {SUPPORTED}():\n    return {_as_set(source, returned)}"
    fix = AppliedFix("hyperparameters-function", f"module-level {SUPPORTED}() from Net's method")
    return [(fix, [insert_top_level(source, text, blank_lines=2)])]


def _assignment_to_function(source: Source, assignment: ast.Assign | ast.AnnAssign) -> Plan:
    """`supported_hyperparameters = {...}` -> a function returning that set."""
    if not _names_literal(assignment.value) or assignment.col_offset != 0:
        return []
    text = f"def {SUPPORTED}():\n    return {_as_set(source, assignment.value)}"
    edits = [source.replace(assignment, text)]
    called = {id(n.func) for n in ast.walk(source.tree) if isinstance(n, ast.Call)}
    for node in ast.walk(source.tree):  # reads of the old variable now call the function
        if isinstance(node, ast.Name) and node.id == SUPPORTED and id(node) not in called:
            if isinstance(node.ctx, ast.Load):
                edits.append(source.replace(node, f"{SUPPORTED}()"))
    fix = AppliedFix("hyperparameters-function", f"{SUPPORTED} = ... -> def {SUPPORTED}()")
    return [(fix, edits)]


def _literal_return(source: Source, function: ast.FunctionDef) -> Plan:
    """`return names` (a set bound to a variable) or a bare set, no return -> `return {...}`."""
    if declared_hyperparameters(function) is not None:
        return []
    returns = [node for node in ast.walk(function) if isinstance(node, ast.Return)]
    fix = AppliedFix("hyperparameters-function", f"{SUPPORTED}() returns a literal set")
    if not returns:
        bare = [s for s in function.body if isinstance(s, ast.Expr) and _names_literal(s.value)]
        if not bare:
            return []
        return [(fix, [source.replace(bare[-1], f"return {source.text(bare[-1])}")])]
    if len(returns) != 1 or not isinstance(returns[0].value, ast.Name):
        return []
    name = returns[0].value.id
    bound = _assigned_literal(function, name) or module_assignment(source.tree, name)
    if bound is None or not _names_literal(bound.value):
        return []
    return [(fix, [source.replace(returns[0].value, _as_set(source, bound.value))])]


def _assigned_literal(function: ast.FunctionDef, name: str) -> ast.Assign | None:
    """The one assignment `name = ...` in the function, if it is the only one."""
    found = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
    ]
    return found[0] if len(found) == 1 else None


def _prm_keys_read(tree: ast.Module) -> set[str]:
    """Keys read as prm['k'] (netapi's rule) or prm.get('k'[, number]), self.prm included.

    `prm.get('act', 'relu')` is left out: a key with a default that is not a number is not
    a hyperparameter in [0, 1], and declaring it would hand the model a number for it.
    """
    nodes = tuple(ast.walk(tree))
    keys = {key for key, _ in prm_subscript_keys(nodes)}
    for node in nodes:
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            continue
        owner = node.func.value
        owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
        default = node.args[1] if len(node.args) > 1 else None
        if owner_name == "prm" and (default is None or _is_number(default)):
            keys.add(node.args[0].value)
    return keys - RESERVED_PRM_KEYS


def _is_number(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        node = node.operand
    value = getattr(node, "value", None) if isinstance(node, ast.Constant) else None
    return isinstance(value, int | float) and not isinstance(value, bool)


def hyperparameters_from_parent(source: Source, parent_code: str) -> Plan:
    """No supported_hyperparameters at all -> the parent's (if a literal), else the keys read."""
    tree = source.tree
    if module_function(tree, SUPPORTED) or module_assignment(tree, SUPPORTED):
        return []
    if not net_methods(tree):
        return []  # not a model (prose, a JSON document): nothing to declare for
    parent = parse_candidate(parent_code).tree if parent_code.strip() else None
    inherited = module_function(parent, SUPPORTED) if parent is not None else None
    if inherited is not None and declared_hyperparameters(inherited) is not None:
        first = min([inherited.lineno, *(d.lineno for d in inherited.decorator_list)])
        text = Source(parent_code, parent).lines(first, inherited.end_lineno).rstrip()
        detail = "copied from the parent"
    else:
        keys = sorted(_prm_keys_read(tree))
        names = "{" + ", ".join(map(repr, keys)) + "}" if keys else "set()"
        text = f"def {SUPPORTED}():\n    return {names}"
        detail = f"built from the prm keys read: {names}"
    fix = AppliedFix("hyperparameters-from-parent", detail)
    return [(fix, [insert_top_level(source, text, blank_lines=2)])]


def undeclared_hyperparameters(source: Source, parent_code: str) -> Plan:
    """prm keys read but not declared -> added to the returned set and to HYPERPARAMETERS."""
    function = module_function(source.tree, SUPPORTED)
    declared = declared_hyperparameters(function) if function is not None else None
    if declared is None:
        return []
    missing = sorted(_prm_keys_read(source.tree) - declared)
    if not missing:
        return []
    returned = next(n.value for n in ast.walk(function) if isinstance(n, ast.Return))
    edits = [_added_elements(source, returned, missing)]
    edits += _proposed_values(source, missing, parent_code)
    fixes = [AppliedFix("undeclared-hyperparameter", repr(key)) for key in missing]
    return sharing_one_edit(fixes, edits)


def _quoted(key: str, like: str) -> str:
    quote = '"' if like.startswith('"') else "'"
    return f"{quote}{key}{quote}" if key.isidentifier() else repr(key)


def _added_elements(source: Source, returned: ast.expr, keys: list[str]) -> Edit:
    """Edit the returned literal (a set, list, tuple or set(...) call) to hold ``keys`` too."""
    collection = returned
    if isinstance(returned, ast.Call):
        collection = returned.args[0] if returned.args else None
    elements = collection.elts if collection is not None else []
    if not elements:
        return source.replace(returned, "{" + ", ".join(map(repr, keys)) + "}")
    last = elements[-1]
    added = "".join(f", {_quoted(key, source.text(last))}" for key in keys)
    end = source.span(last)[1]
    return Edit(end, end, added)


def _proposed_values(source: Source, keys: list[str], parent_code: str) -> list[Edit]:
    """New keys in a module-level `HYPERPARAMETERS = {...}` literal, when there is one.

    The value is the parent's proposal for that key, else the value the search trains an
    unproposed hyperparameter with (search_core.engine.feedback: lr 0.01, momentum 0.9,
    dropout 0.2, else 0.5), so the proposal says what would happen anyway.
    """
    literal = module_assignment(source.tree, "HYPERPARAMETERS")
    if literal is None or not isinstance(literal.value, ast.Dict):
        return []
    keys_written = literal.value.keys
    if not all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in keys_written):
        return []  # a `**spread` or a computed key: not ours to edit
    present = {k.value for k in keys_written}
    parents = proposed_hyperparameters(parent_code) if parent_code else {}
    entries = [
        f"{key!r}: {parents.get(key, DEFAULT_HYPERPARAMETERS.get(key, FALLBACK_VALUE))!r}"
        for key in keys
        if key not in present
    ]
    if not entries:
        return []
    if not literal.value.values:
        return [source.replace(literal.value, "{" + ", ".join(entries) + "}")]
    end = source.span(literal.value.values[-1])[1]
    return [Edit(end, end, "".join(f", {entry}" for entry in entries))]
