"""Render a conversation into one prompt string for TGI servers, with control tokens defused.

TGI's /generate takes one string, so the gateway applies the model's chat template. Message
text is never trusted to be free of the template's control tokens: a `<|im_end|>` inside a
user's text (or inside code an earlier answer wrote) would end the turn and let the rest
pose as another speaker, so such sequences are broken up. Chat servers (vLLM, SGLang, our
embedded server's /v1/chat/completions) render the template themselves and then read
control tokens written in the text as control tokens too, so the gateway defuses every
conversation it sends, whatever the backend (``defuse_turns``, called by preparation); the
renderers here defuse again, which changes nothing on defused text and keeps them safe alone.
"""

import re
from collections.abc import Sequence

from llm_gateway.domain import ChatTurn

ROLES = ("system", "user", "assistant")

# `<|...|>` (ChatML, Llama 3) and the same with full-width bars U+FF5C (DeepSeek): every
# control token of the templates we render starts with one of these two openers.
_CONTROL_OPENER = re.compile(r"<(\||\uff5c)")


def defuse_control_tokens(text: str) -> str:
    """Break every control-token opener (`<|` -> `< |`) so no tokenizer reads it as one."""
    return _CONTROL_OPENER.sub(lambda match: "< " + match.group(1), text)


def defuse_turns(turns: Sequence[ChatTurn]) -> tuple[ChatTurn, ...]:
    """The conversation with every turn's control-token openers broken up."""
    return tuple(ChatTurn(turn.role, defuse_control_tokens(turn.content)) for turn in turns)


def _chatml(messages: Sequence[ChatTurn]) -> str:
    turns = [
        f"<|im_start|>{message.role}\n{defuse_control_tokens(message.content)}<|im_end|>\n"
        for message in messages
    ]
    return "".join(turns) + "<|im_start|>assistant\n"


# DeepSeek-R1 (and R1-0528-Qwen3-8B, which keeps R1's tokenizer configuration): the system
# text comes first, turns are tagged, and the answer starts inside an opened <think> block.
# The begin-of-sentence token is left to TGI's tokenizer, which adds it to every input.
_EOS = "<\uff5cend\u2581of\u2581sentence\uff5c>"
_USER = "<\uff5cUser\uff5c>"
_ASSISTANT = "<\uff5cAssistant\uff5c>"


def _deepseek_r1(messages: Sequence[ChatTurn]) -> str:
    system = "\n\n".join(defuse_control_tokens(m.content) for m in messages if m.role == "system")
    parts = [system]
    for message in messages:
        content = defuse_control_tokens(message.content)
        if message.role == "user":
            parts.append(f"{_USER}{content}")
        elif message.role == "assistant":
            parts.append(f"{_ASSISTANT}{content}{_EOS}")
    parts.append(f"{_ASSISTANT}<think>\n")
    return "".join(parts)


TEMPLATES = {"chatml": _chatml, "deepseek-r1": _deepseek_r1}


def render_chat(template: str, messages: Sequence[ChatTurn]) -> str:
    """The prompt string of ``messages`` under ``template`` ("chatml" or "deepseek-r1")."""
    try:
        render = TEMPLATES[template]
    except KeyError:
        raise ValueError(f"unknown chat template {template!r}") from None
    return render(messages)
