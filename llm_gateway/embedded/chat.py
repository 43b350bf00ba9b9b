"""The OpenAI-style chat endpoint of the embedded server (TGI's /v1/chat/completions), and
vLLM's /v1/models.

Requests are validated into a GenerateCall on the prompt that the model's own chat template
renders; answers are chat completions, or chunks when streamed (the last chunk carries the
finish reason, and the usage when `stream_options.include_usage` asks for it). With a
reasoning parser (llm_gateway.embedded.reasoning) the reasoning comes apart from the
content, in the field vLLM names it.
"""

import json
import time
from dataclasses import dataclass

from llm_gateway.domain import FinishReason
from llm_gateway.embedded.engine import GeneratedToken, GenerateParams
from llm_gateway.embedded.protocol import GenerateCall, Limits, invalid, schema_grammar
from llm_gateway.embedded.reasoning import (
    ReasoningField,
    ReasoningParserName,
    Split,
    ThinkParser,
    split_answer,
)

_FINISH = {
    FinishReason.EOS: "stop",
    FinishReason.STOP_SEQUENCE: "stop",
    FinishReason.LENGTH: "length",
}
FINGERPRINT = "nasforge-embedded"


def parse_chat(body: object, limits: Limits) -> tuple[list[dict], GenerateCall, bool]:
    """(messages, the call without its prompt, whether usage is asked for in a stream)."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise invalid("the body must be a JSON object with a list `messages`")
    messages = []
    for message in body["messages"]:
        if not isinstance(message, dict) or message.get("role") not in (
            "system",
            "user",
            "assistant",
        ):
            raise invalid("every message needs a role: system, user or assistant")
        content = message.get("content")
        if not isinstance(content, str):
            raise invalid("message content must be a string")
        messages.append({"role": message["role"], "content": content})
    if not messages:
        raise invalid("`messages` cannot be empty")
    if body.get("tools"):
        raise invalid("tools are not supported by this server")
    if body.get("n") not in (None, 1):
        raise invalid("`n` must be 1")
    for name in ("frequency_penalty", "presence_penalty", "logit_bias"):
        if body.get(name):
            raise invalid(f"`{name}` is not supported by this server")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise invalid("`stop` must be a string or a list of strings")
    if len(stop) > limits.max_stop_sequences:
        raise invalid(f"`stop` supports up to {limits.max_stop_sequences} stop sequences")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <= 0):
        raise invalid("`max_tokens` must be strictly positive")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or temperature < 0):
        raise invalid("`temperature` must be >= 0")
    top_p = body.get("top_p")
    if top_p is not None and (not isinstance(top_p, int | float) or not 0 < top_p <= 1):
        raise invalid("`top_p` must be > 0.0 and <= 1.0")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or seed < 0):
        raise invalid("`seed` must be a non-negative integer")
    sample = temperature is None or temperature > 0  # OpenAI's default temperature is 1
    params = GenerateParams(
        max_new_tokens=max_tokens or limits.default_max_new_tokens,
        temperature=(temperature or 1.0) if sample else None,
        top_p=top_p if sample and top_p is not None and top_p < 1 else None,
        seed=seed,
        stop=tuple(stop),
        grammar=_response_grammar(body.get("response_format")),
    )
    call = GenerateCall("", params, bool(body.get("stream")), True, False, False, None)
    options = body.get("stream_options") or {}
    return messages, call, bool(isinstance(options, dict) and options.get("include_usage"))


def _response_grammar(response_format: object) -> str | None:
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise invalid("`response_format` must be an object")
    kind = response_format.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return schema_grammar(json.dumps({"type": "object"}))
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
    elif kind == "json":  # TGI's own spelling: {"type": "json", "value": schema}
        schema = response_format.get("value")
    else:
        raise invalid(f"response_format type {kind!r} is not supported")
    if not isinstance(schema, dict) or not schema:
        raise invalid("response_format needs a JSON schema object")
    return schema_grammar(json.dumps(schema))


@dataclass(frozen=True)
class Reasoning:
    """The server's reasoning parser ("" for none) and the field it fills."""

    parser: ReasoningParserName = ""
    field: ReasoningField = "reasoning"

    def stream(self) -> ThinkParser | None:
        return ThinkParser(self.parser) if self.parser else None

    def fields(self, split: Split) -> dict:
        """A message's or delta's content, and its reasoning when the parser found some."""
        fields: dict = {"content": split.content}
        if self.parser:
            fields[self.field] = split.reasoning or None
        return fields


NO_REASONING_PARSER = Reasoning()


def models_response(model_id: str, root: str, max_model_len: int) -> dict:
    """GET /v1/models as vLLM answers it: the served name, and in ``root`` the model loaded."""
    return {
        "object": "list",
        "data": [
            {
                "id": model_id,
                "object": "model",
                "created": int(time.time()),
                "owned_by": FINGERPRINT,
                "root": root,
                "parent": None,
                "max_model_len": max_model_len,
            }
        ],
    }


def _envelope(model_id: str, kind: str) -> dict:
    return {
        "id": "",
        "object": kind,
        "created": int(time.time()),
        "model": model_id,
        "system_fingerprint": FINGERPRINT,
    }


def _usage(prompt_tokens: int, tokens: list[GeneratedToken]) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(tokens),
        "total_tokens": prompt_tokens + len(tokens),
    }


def chat_response(
    model_id: str, tokens: list[GeneratedToken], prompt_tokens: int, reasoning: Reasoning
) -> dict:
    text = "".join(token.text for token in tokens if not token.special)
    split = split_answer(reasoning.parser, text) if reasoning.parser else Split(content=text)
    return {
        **_envelope(model_id, "chat.completion"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **reasoning.fields(split), "tool_calls": None},
                "logprobs": None,
                "finish_reason": _FINISH[tokens[-1].finish],
            }
        ],
        "usage": _usage(prompt_tokens, tokens),
    }


def chat_chunk(
    model_id: str,
    token: GeneratedToken,
    tokens: list[GeneratedToken],
    prompt_tokens: int,
    with_usage: bool,
    reasoning: Reasoning,
    parser: ThinkParser | None,
) -> dict:
    """One token's chunk; ``parser``: this stream's reasoning parser (None: no parser)."""
    text = "" if token.special else token.text
    split = Split(content=text)
    if parser is not None:
        split = parser.feed(text)
        if token.finish is not None:
            rest = parser.finish()
            split = Split(split.reasoning + rest.reasoning, split.content + rest.content)
    chunk = {
        **_envelope(model_id, "chat.completion.chunk"),
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", **reasoning.fields(split), "tool_calls": None},
                "logprobs": None,
                "finish_reason": _FINISH[token.finish] if token.finish else None,
            }
        ],
    }
    if token.finish is not None and with_usage:
        chunk["usage"] = _usage(prompt_tokens, tokens)
    return chunk
