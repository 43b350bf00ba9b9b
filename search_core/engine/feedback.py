"""What the LLM gets back: repair feedback, learning curves, proposed hyperparameters, and
the hyperparameters it answers for a parent's code."""

import ast
import json
import math

from netapi.contract_clauses import clause_for
from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord
from search_core.generation.memory import evenly_spaced
from search_core.services import CheckVerdict, LayerShapes

MAX_FEEDBACK_CHARS = 6000
CURVE_RECORDS = 40  # epochs a prompt's JSON learning curve shows (about 90 characters each)
_TRACE_LAYERS = 24

# Used when the LLM proposes no value (or an invalid one) for a declared hyperparameter.
DEFAULT_HYPERPARAMETERS = {"lr": 0.01, "momentum": 0.9, "dropout": 0.2, "weight_decay": 0.0}
FALLBACK_VALUE = 0.5


def repair_feedback(verdict: CheckVerdict, *, style: str, shape_trace: bool, code: str = "") -> str:
    """The error text a repair prompt carries, in the configured style.

    "last_line" is the naive pipeline's feedback (the last line of the error);
    "full" names the stage, the failing line of `code` as written, the finding, the
    contract clause a compliance finding broke, the failing submodule with its shapes.
    """
    message = verdict.error_message.strip() or "; ".join(f.message for f in verdict.findings)
    if style == "last_line":
        lines = [line for line in message.splitlines() if line.strip()]
        return (lines[-1] if lines else verdict.outcome.value)[:MAX_FEEDBACK_CHARS]
    parts = [f"Outcome: {verdict.outcome.value} at stage {verdict.stage_name or 'static'}."]
    if verdict.error_type:
        parts.append(f"Error type: {verdict.error_type}")
    if message:
        parts.append(message)
    parts.extend(_failing_lines(verdict, code))
    clauses = {clause_for(f.rule) for f in verdict.findings} - {""}
    if clauses:
        parts.append("The contract says: " + " ".join(sorted(clauses)))
    extra = [
        f"- line {f.line}: {f.message}" if f.line else f"- {f.message}"
        for f in verdict.findings
        if f.message and f.message not in message
    ]
    if extra:
        parts.append("Other findings:\n" + "\n".join(extra[:8]))
    if shape_trace and verdict.shape_trace:
        parts.append("Shapes seen before the failure:\n" + format_shape_trace(verdict.shape_trace))
    return "\n".join(parts)[:MAX_FEEDBACK_CHARS]


def _failing_lines(verdict: CheckVerdict, code: str) -> list[str]:
    """`line N: <source>` for the lines the findings point at (at most three)."""
    source = code.splitlines()
    lines = sorted({f.line for f in verdict.findings if 0 < f.line <= len(source)})[:3]
    return [f"Failing line {n}: {source[n - 1].strip()}" for n in lines]


def format_shape_trace(trace: tuple[LayerShapes, ...]) -> str:
    """One line per layer: `module (Type): in [..] -> out [..]`, the last layers kept."""
    lines = []
    for layer in trace[-_TRACE_LAYERS:]:
        ins = ", ".join(str(list(s)) for s in layer.input_shapes)
        outs = ", ".join(str(list(s)) for s in layer.output_shapes)
        lines.append(f"{layer.module or '?'} ({layer.type or '?'}): in {ins} -> out {outs}")
    return "\n".join(lines)


def proposed_hyperparameters(code: str) -> dict[str, float]:
    """The values the LLM proposed in a module-level `HYPERPARAMETERS = {...}` literal.

    Only names in [0, 1] are kept; the code is parsed, never run.
    """
    try:
        node = _literal_assignment(ast.parse(code))
    except (SyntaxError, ValueError):
        return {}
    if node is not None:
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return {}
        if not isinstance(value, dict):
            return {}
        return _unit_values(value)
    return {}


def _unit_values(values: dict) -> dict[str, float]:
    """The entries of `values` that name a hyperparameter with a finite number in [0, 1]."""
    return {
        str(key): float(number)
        for key, number in values.items()
        if isinstance(key, str)
        and isinstance(number, int | float)
        and not isinstance(number, bool)
        and math.isfinite(number)
        and 0.0 <= number <= 1.0
    }


def declared_hyperparameters(code: str) -> set[str]:
    """The names returned by `supported_hyperparameters()`, when it returns a literal set."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "supported_hyperparameters":
            for statement in ast.walk(node):
                if isinstance(statement, ast.Return) and statement.value is not None:
                    try:
                        names = ast.literal_eval(statement.value)
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        return set()
                    if isinstance(names, set | frozenset | list | tuple):
                        return {n for n in names if isinstance(n, str)}
    return set()


def training_hyperparameters(code: str, preferred: dict[str, float]) -> dict[str, float]:
    """Values for every declared name: the preferred (genome) ones, the LLM's, then defaults."""
    proposed = {**proposed_hyperparameters(code), **preferred}
    return {
        name: proposed.get(name, DEFAULT_HYPERPARAMETERS.get(name, FALLBACK_VALUE))
        for name in sorted(declared_hyperparameters(code))
    }


class TuningAnswerError(ValueError):
    """A tuning answer that sets no hyperparameter; `outcome` is how the candidate ends."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


def tuned_code(parent_code: str, answer: str) -> str:
    """The parent's code with the hyperparameters of a `fairnad_tune_hyperparameters` answer
    (JSON) in its `HYPERPARAMETERS` literal; names it does not set keep the parent's values.

    Raises TuningAnswerError when the answer is empty, not a JSON object, proposes no value
    in [0, 1] for a name `supported_hyperparameters()` declares, or keeps every value the
    parent was trained with (its training would be the parent's again).
    """
    declared = declared_hyperparameters(parent_code)
    answered = {name: value for name, value in _answered_values(answer).items() if name in declared}
    if not answered:
        raise TuningAnswerError(
            Outcome.API_NONCOMPLIANCE,
            f"the answer proposes no value in [0, 1] for {', '.join(sorted(declared)) or 'any'}"
            " of the hyperparameters the model declares",
        )
    values = training_hyperparameters(parent_code, answered)
    if values == training_hyperparameters(parent_code, {}):
        raise TuningAnswerError(
            Outcome.DUPLICATE, "the answer keeps every hyperparameter of its parent"
        )
    return with_hyperparameters_literal(parent_code, values)


def _answered_values(answer: str) -> dict[str, float]:
    """The values of the answer's "hyperparameters" object, within [0, 1]."""
    if not answer.strip():
        raise TuningAnswerError(Outcome.NO_CODE, "the answer is empty")
    try:
        document = json.loads(answer)
    except ValueError as error:
        raise TuningAnswerError(Outcome.SYNTAX_ERROR, f"the answer is not JSON: {error}") from None
    values = document.get("hyperparameters") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise TuningAnswerError(
            Outcome.API_NONCOMPLIANCE, 'the answer has no "hyperparameters" object'
        )
    return _unit_values(values)


def learning_curve_records(candidate: CandidateRecord) -> list[dict[str, float]]:
    """Its epochs as JSON-able records: train loss and validation metric (never a test
    figure), at most CURVE_RECORDS of them, evenly spaced, so that a prompt's curves stay
    within its variable's size limit however long the training."""
    return [
        {
            "epoch": e.epoch,
            "train_loss": round(e.train_loss, 4),
            "validation": round(e.validation_metric, 4),
            "seconds": round(e.wall_time_ms / 1000, 1),
        }
        for e in evenly_spaced(candidate.epochs, CURVE_RECORDS)
    ]


def with_hyperparameters_literal(code: str, values: dict[str, float]) -> str:
    """The code with its `HYPERPARAMETERS = {...}` literal set to `values` (added if missing)."""
    literal = (
        "HYPERPARAMETERS = {"
        + ", ".join(f"{name!r}: {values[name]!r}" for name in sorted(values))
        + "}"
    )
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    lines = code.splitlines()
    node = _literal_assignment(tree)
    if node is not None:
        lines[node.lineno - 1 : node.end_lineno] = [literal]
        return "\n".join(lines) + "\n"
    after = next(
        (
            n.end_lineno
            for n in tree.body
            if isinstance(n, ast.FunctionDef) and n.name == "supported_hyperparameters"
        ),
        0,
    )
    lines[after:after] = ["", "", literal] if after else [literal, ""]
    return "\n".join(lines) + "\n"


def _literal_assignment(tree: ast.Module) -> ast.Assign | None:
    """The module-level `HYPERPARAMETERS = ...` statement, if there is one."""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "HYPERPARAMETERS"
        ):
            return node
    return None
