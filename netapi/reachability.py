"""Which top-level functions of a candidate its model can never run.

LEMUR's models carry torchvision's builders beside `Net`: `densenet121(weights=...)` calls
`_densenet`, which calls `_load_state_dict`, which fetches weights with `get_state_dict`.
`Net` never calls any of them, so LEMUR trains the model from scratch. A rule that refuses
what fetches weights can ask this module whether the call lies in such dead code and warn
instead (the container has no network either way).

Over-approximating on purpose: a function is live when its name appears anywhere in code
that runs, as a name or as an attribute. Code that runs is everything at module level
except the bodies of top-level functions (so decorators, default values and annotations
count, and every class body and method counts, dead or not), plus the bodies of live
functions. A dead function is only ever one no identifier in running code names.
"""

import ast
from dataclasses import dataclass

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

# The module-level function the Net API's caller (harness, trainer) calls by name.
CALLED_FROM_OUTSIDE = frozenset({"supported_hyperparameters"})


@dataclass(frozen=True)
class DeadFunction:
    name: str
    first_line: int  # of its body
    last_line: int

    def holds(self, line: int) -> bool:
        return self.first_line <= line <= self.last_line


def _identifiers(nodes: list[ast.AST]) -> set[str]:
    found: set[str] = set()
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Name):
                found.add(node.id)
            elif isinstance(node, ast.Attribute):
                found.add(node.attr)
    return found


def _definition_time_parts(function: FunctionNode) -> list[ast.AST]:
    """What Python evaluates when it runs the `def`: decorators, defaults, annotations."""
    arguments = function.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
    parts: list[ast.AST] = [*function.decorator_list, *arguments.defaults]
    parts += [default for default in arguments.kw_defaults if default is not None]
    parts += [a.annotation for a in every if a.annotation is not None]
    return parts + ([function.returns] if function.returns is not None else [])


def dead_functions(tree: ast.Module) -> list[DeadFunction]:
    """The top-level functions whose bodies nothing that runs can reach."""
    functions = {node.name: node for node in tree.body if isinstance(node, FunctionNode)}
    running: list[ast.AST] = []
    for node in tree.body:
        if isinstance(node, FunctionNode):
            running += _definition_time_parts(node)
        else:
            running.append(node)
    reached = _identifiers(running) | CALLED_FROM_OUTSIDE
    live: set[str] = set()
    frontier = reached & functions.keys()
    while frontier:
        live |= frontier
        reached = _identifiers([stmt for name in frontier for stmt in functions[name].body])
        frontier = (reached & functions.keys()) - live
    return [
        DeadFunction(name, node.body[0].lineno, node.end_lineno or node.lineno)
        for name, node in functions.items()
        if name not in live
    ]
