"""The embedded server's reasoning parsers: a reasoning model's ``<think>`` block returned apart
from the answer, as vLLM does when started with ``--reasoning-parser``.

- ``deepseek_r1``: the chat template opens the block in the prompt, so the answer starts
  inside it; a ``<think>`` the model writes again is dropped, ``</think>`` ends it, and an
  answer that never closes it is all reasoning.
- ``qwen3``: the answer starts outside; ``<think>`` opens the block, ``</think>`` closes it.

The reasoning goes into the message's (or delta's) ``reasoning`` field as vLLM 0.11 and later
name it, or ``reasoning_content`` as earlier versions did (NASFORGE_EMBEDDED_REASONING_FIELD).
Streamed text arrives a token at a time and a tag may span tokens, so the parser holds back
a tail that could still become a tag until the next token or the end says otherwise.
"""

from dataclasses import dataclass
from typing import Literal

ReasoningParserName = Literal["", "deepseek_r1", "qwen3"]
ReasoningField = Literal["reasoning", "reasoning_content"]
OPEN, CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class Split:
    """A piece of the answer, parted into reasoning and content."""

    reasoning: str = ""
    content: str = ""


def _held_back(text: str, tags: tuple[str, ...]) -> int:
    """How many trailing characters of ``text`` could be the start of one of ``tags``."""
    longest = 0
    for tag in tags:
        for size in range(min(len(tag) - 1, len(text)), longest, -1):
            if text.endswith(tag[:size]):
                longest = size
                break
    return longest


class ThinkParser:
    """Parts one answer, piece by piece, into reasoning and content."""

    def __init__(self, name: ReasoningParserName) -> None:
        if name not in ("deepseek_r1", "qwen3"):
            raise ValueError(f"unknown reasoning parser {name!r}")
        self._reasoning = name == "deepseek_r1"
        self._pending = ""

    def feed(self, text: str) -> Split:
        self._pending += text
        reasoning, content = [], []
        while True:
            tags = (OPEN, CLOSE) if self._reasoning else (OPEN,)
            found = [(self._pending.find(tag), tag) for tag in tags]
            found = [(at, tag) for at, tag in found if at != -1]
            if not found:
                break
            at, tag = min(found)
            (reasoning if self._reasoning else content).append(self._pending[:at])
            self._pending = self._pending[at + len(tag) :]
            self._reasoning = tag == OPEN  # an opening inside the block changes nothing
        keep = _held_back(self._pending, (OPEN, CLOSE) if self._reasoning else (OPEN,))
        cut = len(self._pending) - keep
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        (reasoning if self._reasoning else content).append(ready)
        return Split("".join(reasoning), "".join(content))

    def finish(self) -> Split:
        """What was held back, now that no more text comes."""
        rest, self._pending = self._pending, ""
        return Split(rest, "") if self._reasoning else Split("", rest)


def split_answer(name: ReasoningParserName, text: str) -> Split:
    """A whole answer parted (the unary response)."""
    parser = ThinkParser(name)
    head, tail = parser.feed(text), parser.finish()
    return Split(head.reasoning + tail.reasoning, head.content + tail.content)
