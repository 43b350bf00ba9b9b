"""Map an exception raised by a candidate to exactly one outcome, with a bounded message."""

import re
import traceback
from dataclasses import dataclass

from netapi.findings import sanitise
from netapi.outcomes import Outcome

CANDIDATE_FILENAME = "<candidate>"
# What a candidate may raise that must become an outcome rather than end the harness.
CANDIDATE_ERRORS = (Exception, SystemExit, KeyboardInterrupt)
MAX_ERROR_CHARS = 1200

_SHAPE_WORDS = re.compile(
    r"shape|size|dimension|channels|mat1|mat2|must match|batch_size|normalized_shape|"
    r"kernel size|out of range|expected input|input_size|expected .*d input",
    re.IGNORECASE,
)
_UNEXPECTED_KEYWORD = re.compile(r"^([\w.]+)\(\) got an unexpected keyword argument '(\w+)'")
_SITE_PACKAGES = re.compile(r"/[^\s'\"]*/site-packages/")


@dataclass(frozen=True)
class Failure:
    """What an exception means for the candidate."""

    outcome: Outcome
    type: str
    message: str
    line: int = 0


def candidate_line(error: BaseException, source_lines: list[str]) -> tuple[int, str]:
    """The deepest line of the candidate in the traceback, and its text."""
    line = 0
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == CANDIDATE_FILENAME and frame.lineno:
            line = frame.lineno
    if isinstance(error, SyntaxError) and error.filename == CANDIDATE_FILENAME:
        line = error.lineno or line
    text = source_lines[line - 1].strip() if 0 < line <= len(source_lines) else ""
    return line, text


def _defined_by_candidate(qualified: str, namespace: dict) -> bool:
    return qualified.split(".", 1)[0] in namespace


def _is_torch_object(value: object) -> bool:
    module = getattr(value, "__name__", None) if isinstance(value, type(re)) else None
    module = module or getattr(type(value), "__module__", "") or ""
    if isinstance(value, type):
        module = value.__module__ or ""
    return module.split(".", 1)[0] in ("torch", "torchvision")


def classify(error: BaseException, namespace: dict) -> Outcome:
    """The outcome an exception implies. ``namespace`` holds the candidate's own names."""
    if isinstance(error, MemoryError):
        return Outcome.OOM
    if isinstance(error, ImportError):
        return Outcome.HALLUCINATED_API
    if isinstance(error, AttributeError):
        owner = getattr(error, "obj", None)
        return Outcome.HALLUCINATED_API if _is_torch_object(owner) else Outcome.RUNTIME_ERROR
    if isinstance(error, TypeError):
        match = _UNEXPECTED_KEYWORD.match(str(error))
        if match and not _defined_by_candidate(match.group(1), namespace):
            return Outcome.HALLUCINATED_API
        return Outcome.RUNTIME_ERROR
    if isinstance(error, RuntimeError | ValueError | IndexError) and _SHAPE_WORDS.search(
        str(error)
    ):
        if "out of memory" in str(error).lower():
            return Outcome.OOM
        return Outcome.SHAPE_MISMATCH
    if isinstance(error, RuntimeError) and "out of memory" in str(error).lower():
        return Outcome.OOM
    return Outcome.RUNTIME_ERROR


def describe(
    error: BaseException, namespace: dict, source_lines: list[str], context: str = ""
) -> Failure:
    """A Failure with the exception text, the candidate line, and extra context."""
    line, text = candidate_line(error, source_lines)
    message = _SITE_PACKAGES.sub("", f"{type(error).__name__}: {error}")
    if line:
        message += f" (candidate line {line}: {text})"
    if context:
        message += f"; {context}"
    return Failure(
        classify(error, namespace), type(error).__name__, sanitise(message, MAX_ERROR_CHARS), line
    )
