"""A reasoning model's thinking, wherever the server put it, in one notation: <think>...</think>.

Servers hand reasoning back in three ways: inline in the text (TGI, our embedded server, vLLM
without a reasoning parser; DeepSeek-R1's template opens the block in the prompt, so the
text may start inside it), or apart from the answer as a field of the message and of each
stream delta: ``reasoning_content`` (vLLM before 0.11, SGLang, llama.cpp's server) or
``reasoning`` (vLLM 0.11 and later). The OpenAI backend writes a separate field back into the
text as the model wrote it, ``<think>reasoning</think>answer``, so that every backend's answer
reaches one split (``split_reasoning``, used by every analysis) and a stream shows the
thinking as it happens, as TGI's does.
"""

import re

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
# vLLM 0.11+ first, then the older name (both are sent by versions in between).
REASONING_FIELDS = ("reasoning", "reasoning_content")
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)


def reasoning_of(message: dict) -> str:
    """The reasoning a chat message or stream delta carries apart from its content ("" if none)."""
    for name in REASONING_FIELDS:
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def join_reasoning(reasoning: str, content: str) -> str:
    """The answer as the model wrote it: reasoning in its block, then the content."""
    return f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{content}" if reasoning else content


class StreamJoiner:
    """``join_reasoning`` for a stream: each delta's text, with the block's tags where they
    fall (a stream that ends while still reasoning leaves the block open, as a cut answer)."""

    def __init__(self) -> None:
        self._reasoning = False

    def piece(self, reasoning: str, content: str) -> str:
        text = ""
        if reasoning:
            if not self._reasoning:
                text += THINK_OPEN
                self._reasoning = True
            text += reasoning
        if content:
            if self._reasoning:
                text += THINK_CLOSE
                self._reasoning = False
            text += content
        return text


def split_reasoning(text: str) -> tuple[str, str, bool]:
    """(answer without reasoning, the reasoning, whether a reasoning block never closed).

    Every ``<think>...</think>`` block is reasoning; a ``</think>`` with no opening ends
    reasoning that started with the answer (the prompt opened it); an opening never closed
    makes the rest reasoning.
    """
    reasoning = [match.group(1).strip() for match in _THINK.finditer(text)]
    answer = _THINK.sub("", text)
    lowered = answer.lower()
    close = lowered.find(THINK_CLOSE)
    if close != -1 and THINK_OPEN not in lowered[:close]:
        reasoning.insert(0, answer[:close].strip())
        answer = answer[close + len(THINK_CLOSE) :]
        lowered = answer.lower()
    unclosed = False
    start = lowered.find(THINK_OPEN)
    if start != -1:
        reasoning.append(answer[start + len(THINK_OPEN) :].strip())
        answer = answer[:start]
        unclosed = True
    return answer.strip(), "\n\n".join(part for part in reasoning if part), unclosed
