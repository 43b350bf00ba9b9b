"""Pull the code out of a model's answer: drop reasoning, choose one fenced block, spot cuts.

The rules, in order:

0. End of turn. A chat end-of-turn token left in the text (`<|im_end|>`, `<|endoftext|>`,
   `<|eot_id|>`, DeepSeek's end of sentence) ends the answer: what follows is the model
   writing the next turns of the conversation itself.
1. Reasoning. Every ``<think>...</think>`` block is removed and kept as ``reasoning``
   (llm_gateway.reasoning.split_reasoning, the one split of every backend's answer). A
   ``</think>`` with no opening ends reasoning that started with the answer (DeepSeek-R1's
   template opens the block in the prompt). An opening that is never closed makes the rest
   of the answer reasoning. Code inside reasoning is a draft, never the answer.
2. Blocks. Fences are runs of 3+ backticks or tildes (indented or not); a block's language is
   the first word of its info string. Python blocks are those tagged python/py/python3 (and
   a few aliases), plus untagged or plain-text blocks whose content looks like Python. A
   block written as an interactive session (every line starts with `>>> ` or `... `) loses
   its prompts.
3. Choice. Among Python blocks that define ``class Net``, the longest complete one wins (ties:
   the later one, as models put revisions last); a cut-off block only when no complete one
   defines Net. Without any Net, the longest Python block ("fenced-python"). Without fenced
   Python: blocks in other languages only -> ``no_code`` (wrong language); otherwise bare
   code from the first line that starts a Python statement, with trailing prose dropped,
   when it defines Net or parses ("bare-code").
4. Truncation. The answer stopped for length and the chosen block never closed, or no code
   came before the cut (inside reasoning or prose) -> ``truncated``. Code that is itself
   unbalanced is found truncated by the static checks that follow.
"""

import ast
import re
import warnings
from dataclasses import dataclass

from llm_gateway.domain import FinishReason
from llm_gateway.reasoning import split_reasoning
from netapi.findings import Finding
from netapi.outcomes import Outcome, Stage

PYTHON_LANGUAGES = frozenset({"python", "py", "python3", "py3", "pytorch", "torch", "python-repl"})
UNTAGGED = frozenset({"", "text", "plaintext", "txt", "code"})
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")
_NET_CLASS = re.compile(r"^[ \t]*class[ \t]+Net[ \t]*[(:]", re.MULTILINE)
_CODE_START = re.compile(r"^(import |from \S+ import |class \w|def \w|@\w|async def )")
_PYTHON_HINT = re.compile(r"^[ \t]*(import |from \S+ import |class \w|def \w)", re.MULTILINE)
_END_OF_TURN = re.compile(
    r"<\|im_end\|>|<\|endoftext\|>|<\|eot_id\|>|<\uff5cend\u2581of\u2581sentence\uff5c>"
)
_REPL_PROMPT = re.compile(r"^(>>>|\.\.\.)( |$)")

# The whole answer is one fenced Python block and nothing else: "```python", then lines none of
# which starts with ``` (so single and double backticks inside the code are fine), then the
# closing fence. Written for TGI's regex grammars (outlines/interegular: no lazy quantifiers,
# no lookarounds; a full match is implied) and for the embedded server's translation of them
# (llm_gateway.embedded.regex_grammar). A line is up to two backticks, then either nothing or
# a character that is neither a backtick nor a newline and the rest of the line.
CODE_BLOCK_REGEX = r"```python\n(`{0,2}([^`\n][^\n]*)?\n)*```\n{0,2}"


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block of an answer."""

    language: str
    code: str
    line: int  # 1-based line of the opening fence in the answer
    closed: bool

    @property
    def defines_net(self) -> bool:
        return bool(_NET_CLASS.search(self.code))

    @property
    def size(self) -> int:
        return len(self.code.strip().splitlines())


@dataclass(frozen=True)
class Extraction:
    """What was taken from an answer, by which rule, and why nothing was when nothing was."""

    code: str
    rule: str
    reasoning: str
    findings: tuple[Finding, ...] = ()

    @property
    def failed(self) -> bool:
        return bool(self.findings)


def end_of_turn(text: str) -> str:
    """The answer up to the first end-of-turn token left in it."""
    match = _END_OF_TURN.search(text)
    return text[: match.start()] if match else text


def _closes(line: str, fence: str) -> bool:
    """A closing fence: as long as the opening, and no info string (junk like a stray
    control token after it is not one: only a word would open a new block)."""
    stripped = line.strip()
    run = len(stripped) - len(stripped.lstrip(fence[0]))
    rest = stripped[run:].strip()
    return run >= len(fence) and not (rest[:1].isalnum() or rest[:1] == "{")


def _without_repl_prompts(code: str) -> str:
    lines = [line for line in code.splitlines() if line.strip()]
    if not lines or not all(_REPL_PROMPT.match(line) for line in lines):
        return code
    return "\n".join(line[4:] for line in code.splitlines())


def fenced_blocks(answer: str) -> list[CodeBlock]:
    """Every fenced block, in order; a block still open at the end is marked not closed."""
    blocks: list[CodeBlock] = []
    lines = answer.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if not opening:
            continue
        fence, indent = opening.group("fence"), opening.group("indent")
        language = (opening.group("info").split() or [""])[0].lower().strip("{}.")
        first_line, body = index, []
        while index < len(lines) and not _closes(lines[index], fence):
            text = lines[index]
            body.append(text[len(indent) :] if text.startswith(indent) else text)
            index += 1
        closed = index < len(lines)
        index += 1  # past the closing fence
        code = _without_repl_prompts("\n".join(body))
        blocks.append(CodeBlock(language, code, first_line, closed))
    return blocks


def _parses(code: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _is_python(block: CodeBlock) -> bool:
    if block.language in PYTHON_LANGUAGES:
        return True
    if block.language not in UNTAGGED or not block.code.strip():
        return False
    return bool(_PYTHON_HINT.search(block.code)) or (block.defines_net and _parses(block.code))


def _best(blocks: list[CodeBlock]) -> CodeBlock:
    """The longest complete block (the later on ties); a cut-off one only if none is complete."""
    complete = [block for block in blocks if block.closed] or blocks
    return max(reversed(complete), key=lambda block: block.size)


def _is_prose(paragraph: list[str]) -> bool:
    first = paragraph[0]
    return bool(re.match(r"^[A-Z*#>-]", first)) and not _parses("\n".join(paragraph))


def bare_code(answer: str) -> str:
    """Code written without fences: from the first Python statement, trailing prose dropped."""
    lines = answer.splitlines()
    start = next((n for n, text in enumerate(lines) if _CODE_START.match(text)), None)
    if start is None:
        return ""
    code = lines[start:]
    while not _parses("\n".join(code)):
        blank = max((n for n, text in enumerate(code) if not text.strip()), default=None)
        if blank is None or not _is_prose([t for t in code[blank + 1 :] if t.strip()] or [""]):
            break
        code = code[:blank]
    return "\n".join(code).strip()


def _finding(rule: str, outcome: Outcome, message: str, line: int = 0) -> Finding:
    return Finding(rule, outcome, message, line=line, stage=Stage.EXTRACT)


def _nothing(reasoning: str, rule: str, outcome: Outcome, message: str) -> Extraction:
    return Extraction("", "", reasoning, (_finding(rule, outcome, message),))


def extract_code(text: str, finish_reason: FinishReason) -> Extraction:
    """Apply the rules of this module to one answer."""
    answer, reasoning, unclosed = split_reasoning(end_of_turn(text))
    cut = finish_reason is FinishReason.LENGTH
    blocks = fenced_blocks(answer)
    python = [block for block in blocks if _is_python(block)]
    with_net = [block for block in python if block.defines_net]
    if with_net or python:
        chosen = _best(with_net or python)
        rule = "fenced-net-class" if with_net else "fenced-python"
        findings = ()
        if cut and not chosen.closed:
            findings = (
                _finding(
                    "truncated-answer",
                    Outcome.TRUNCATED,
                    "the answer reached max_new_tokens inside its code block",
                    chosen.line,
                ),
            )
        return Extraction(chosen.code.strip("\n"), rule, reasoning, findings)
    bare = bare_code(answer)
    others = sorted({block.language for block in blocks if block.code.strip()})
    if bare and not others and (_NET_CLASS.search(bare) or _parses(bare)):
        return Extraction(bare, "bare-code", reasoning)
    if cut:
        where = "inside its reasoning" if unclosed else "before any code"
        message = f"the answer reached max_new_tokens {where}"
        return _nothing(reasoning, "truncated-answer", Outcome.TRUNCATED, message)
    if others:
        message = f"the answer's code is in {', '.join(others)}, not Python"
        return _nothing(reasoning, "wrong-language", Outcome.NO_CODE, message)
    message = (
        "the answer's reasoning never ended" if unclosed else "the answer contains no Python code"
    )
    return _nothing(reasoning, "no-code", Outcome.NO_CODE, message)
