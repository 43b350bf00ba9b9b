"""Parse candidate source with `ast`, telling truncated code from plain syntax errors."""

import ast
import io
import re
import tokenize
import warnings
from dataclasses import dataclass

from netapi.findings import Finding
from netapi.outcomes import Outcome

# SyntaxError messages (CPython 3.11) that mean the text stopped before the code did.
_TRUNCATION_MESSAGES = (
    "was never closed",
    "unexpected eof",
    "unterminated triple-quoted string",
    "expected an indented block",
)


@dataclass(frozen=True)
class Parsed:
    """A parsed module, or the finding that explains why there is none."""

    tree: ast.Module | None
    finding: Finding | None


# A definition after an unclosed bracket means the bracket was a typo, not a cut.
_TOP_LEVEL_STATEMENT = re.compile(r"^(def|class|import|from|async def|@)\b|^if __name__")
# A text ending in one of these was cut in the middle of an expression.
_DANGLING_ENDINGS = tuple("+-*/%=,([{\\|&^<>@")  # not ".": prose ends in one


def _last_code_line(source: str) -> int:
    lines = source.rstrip().splitlines()
    return len(lines)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _statement_after(source: str, line: int) -> bool:
    """After an unclosed bracket on ``line``, does a new statement start (a typo, not a cut)?

    Text cut inside a bracket continues with deeper-indented arguments only; a line at the
    bracket line's indentation or less, or a top-level definition, starts a new statement.
    """
    lines = source.splitlines()
    if not 0 < line <= len(lines):
        return False
    opening = _indent(lines[line - 1])
    for text in lines[line:]:
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if _TOP_LEVEL_STATEMENT.match(text) or (
            _indent(text) <= opening and not text.lstrip().startswith((")", "]", "}"))
        ):
            return True
    return False


def _ends_mid_expression(source: str) -> bool:
    """The text ends in an operator, and without that operator it is valid Python."""
    stripped = source.rstrip()
    if not stripped.endswith(_DANGLING_ENDINGS):
        return False
    try:
        ast.parse(stripped[:-1])
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _tokenizer_says_truncated(source: str) -> bool:
    """True when the tokenizer hits end of input inside brackets or a string."""
    try:
        for _ in tokenize.generate_tokens(io.StringIO(source).readline):
            pass
    except tokenize.TokenError as exc:
        return "EOF in multi-line" in str(exc)
    except (SyntaxError, IndentationError, ValueError):
        return False
    return False


def _is_truncation(error: SyntaxError, source: str) -> bool:
    message = (error.msg or "").lower()
    line = error.lineno or 0
    if "expected an indented block" in message:
        # A block header on the very last line: the body never came.
        return line >= _last_code_line(source)
    if "was never closed" in message:
        return not _statement_after(source, line)
    if any(marker in message for marker in _TRUNCATION_MESSAGES):
        return True
    if line < _last_code_line(source):
        return False  # the parser found a real error before the end of the text
    return _ends_mid_expression(source) or _tokenizer_says_truncated(source)


def parse_candidate(source: str) -> Parsed:
    """Parse without executing anything; map every failure to exactly one finding."""
    if not source.strip():
        return Parsed(None, Finding("empty", Outcome.NO_CODE, "the candidate contains no code"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            tree = ast.parse(source, filename="<candidate>", mode="exec")
    except SyntaxError as exc:
        line, column = exc.lineno or 0, max((exc.offset or 1) - 1, 0)
        if _is_truncation(exc, source):
            return Parsed(
                None,
                Finding(
                    "truncated",
                    Outcome.TRUNCATED,
                    f"the code stops before it is complete: {exc.msg}",
                    line,
                    column,
                ),
            )
        return Parsed(
            None, Finding("syntax", Outcome.SYNTAX_ERROR, exc.msg or "invalid syntax", line, column)
        )
    except ValueError as exc:  # e.g. NUL bytes in the source
        return Parsed(None, Finding("syntax", Outcome.SYNTAX_ERROR, str(exc)))
    except (RecursionError, MemoryError):
        return Parsed(
            None,
            Finding("syntax", Outcome.SYNTAX_ERROR, "the code is nested too deeply to parse"),
        )
    if not tree.body:
        return Parsed(
            None, Finding("empty", Outcome.NO_CODE, "the candidate contains only comments")
        )
    return Parsed(tree, None)
