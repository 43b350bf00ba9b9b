"""TGI's HTTP protocol as the official `text-generation` client speaks it: request validation,
response bodies, server-sent events and error bodies. No model and no HTTP server here.

- ``POST /`` with ``stream: false`` answers a one-element list, with ``stream: true`` events;
  ``POST /generate`` answers one object; ``POST /generate_stream`` answers events.
- An event is ``data:{json}`` and a blank line. The last token's event carries
  ``generated_text`` and ``details``; an error after the stream started is an event
  ``{"error", "error_type"}`` (which the client raises as its own error type).
- Errors are ``{"error": message, "error_type": kind}`` with TGI's status codes: 422
  validation, 424 generation, 429 overloaded.
- ``/v1/chat/completions`` answers OpenAI-style chat completions, and chunks without the
  ``[DONE]`` sentinel, which the text-generation 0.7 client cannot parse.
"""

import json
import math
from dataclasses import dataclass

from llm_gateway.embedded.engine import GeneratedToken, GenerateParams, json_schema_grammar
from llm_gateway.embedded.regex_grammar import regex_to_gbnf

VALIDATION, GENERATION, OVERLOADED = "validation", "generation", "overloaded"
STATUS = {VALIDATION: 422, GENERATION: 424, OVERLOADED: 429}


class ProtocolError(Exception):
    """An error answered with TGI's error body."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def status(self) -> int:
        return STATUS[self.kind]

    def body(self) -> dict:
        return {"error": str(self), "error_type": self.kind}


def invalid(message: str) -> ProtocolError:
    return ProtocolError(VALIDATION, f"Input validation error: {message}")


@dataclass(frozen=True)
class Limits:
    """The server's limits, as /info reports them."""

    max_input_tokens: int
    max_total_tokens: int
    default_max_new_tokens: int
    max_stop_sequences: int


@dataclass(frozen=True)
class GenerateCall:
    """A validated generate request."""

    inputs: str
    params: GenerateParams
    stream: bool
    details: bool
    decoder_input_details: bool
    return_full_text: bool
    truncate: int | None


def _number(parameters: dict, name: str, *, integer: bool = False) -> float | int | None:
    value = parameters.get(name)
    if value is None:
        return None
    kinds = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise invalid(f"`{name}` must be a {'whole ' if integer else ''}number")
    return value


def _positive(parameters: dict, name: str, *, integer: bool = False) -> float | int | None:
    value = _number(parameters, name, integer=integer)
    if value is not None and value <= 0:
        raise invalid(f"`{name}` must be strictly positive")
    return value


def _probability(parameters: dict, name: str) -> float | None:
    value = _number(parameters, name)
    if value is not None and not 0.0 < value < 1.0:
        raise invalid(f"`{name}` must be > 0.0 and < 1.0")
    return value


def schema_grammar(schema: str) -> str:
    """The GBNF of a JSON schema (text); a validation error if it cannot be converted."""
    try:
        return json_schema_grammar(schema)
    except ValueError as exc:
        raise invalid(str(exc)) from exc


def _grammar(parameters: dict) -> str | None:
    """The GBNF of TGI's ``grammar`` parameter: a JSON schema, or a regex the whole answer
    matches (translated: regex_grammar says which regexes can be)."""
    grammar = parameters.get("grammar")
    if grammar is None:
        return None
    if not isinstance(grammar, dict) or grammar.get("type") not in ("json", "regex"):
        raise invalid("`grammar` must be {type: json|regex, value}")
    value = grammar.get("value")
    if grammar["type"] == "regex":
        if not isinstance(value, str) or not value:
            raise invalid("`value` must be a non-empty string for `regex` grammar")
        try:
            return regex_to_gbnf(value)
        except ValueError as exc:
            raise invalid(f"grammar regex cannot be used: {exc}") from exc
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise invalid(f"grammar value is not a JSON schema: {exc}") from exc
    if not isinstance(value, dict) or not value:
        raise invalid("`value` cannot be empty for `json` grammar")
    return schema_grammar(json.dumps(value))


def parse_generate(body: object, limits: Limits, *, stream: bool | None = None) -> GenerateCall:
    """Validate a /, /generate or /generate_stream body (``stream`` fixed by the route)."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), str):
        raise invalid("the body must be a JSON object with a string `inputs`")
    if not body["inputs"]:
        raise invalid("`inputs` cannot be empty")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise invalid("`parameters` must be an object")
    best_of = _positive(parameters, "best_of", integer=True)
    if best_of is not None and best_of > 1:
        raise invalid("`best_of` > 1 is not supported by this server")
    if parameters.get("watermark"):
        raise invalid("`watermark` is not supported by this server")
    if parameters.get("top_n_tokens"):
        raise invalid("`top_n_tokens` is not supported by this server")
    max_new = _positive(parameters, "max_new_tokens", integer=True)
    stop = parameters.get("stop") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise invalid("`stop` must be a list of non-empty strings")
    if len(stop) > limits.max_stop_sequences:
        raise invalid(
            f"`stop` supports up to {limits.max_stop_sequences} stop sequences. Given: {len(stop)}"
        )
    seed = _number(parameters, "seed", integer=True)
    if seed is not None and not 0 <= seed < 2**64:
        raise invalid("`seed` must be in [0, 2**64)")
    sample = bool(parameters.get("do_sample"))
    temperature = _positive(parameters, "temperature")
    params = GenerateParams(
        max_new_tokens=int(max_new or limits.default_max_new_tokens),
        temperature=temperature if temperature is not None else (1.0 if sample else None),
        top_k=_positive(parameters, "top_k", integer=True),
        top_p=_probability(parameters, "top_p"),
        typical_p=_probability(parameters, "typical_p"),
        repetition_penalty=_positive(parameters, "repetition_penalty"),
        seed=seed,
        stop=tuple(stop),
        grammar=_grammar(parameters),
    )
    return GenerateCall(
        inputs=body["inputs"],
        params=params,
        stream=bool(body.get("stream")) if stream is None else stream,
        details=bool(parameters.get("details")),
        decoder_input_details=bool(parameters.get("decoder_input_details")),
        return_full_text=bool(parameters.get("return_full_text")),
        truncate=_positive(parameters, "truncate", integer=True),
    )


def check_lengths(input_tokens: int, max_new_tokens: int, limits: Limits) -> None:
    """TGI's length validation of a tokenized prompt."""
    if input_tokens > limits.max_input_tokens:
        raise invalid(
            f"`inputs` must have less than {limits.max_input_tokens} tokens. Given: {input_tokens}"
        )
    if input_tokens + max_new_tokens > limits.max_total_tokens:
        raise invalid(
            f"`inputs` tokens + `max_new_tokens` must be <= {limits.max_total_tokens}. "
            f"Given: {input_tokens} `inputs` tokens and {max_new_tokens} `max_new_tokens`"
        )


def token_json(token: GeneratedToken) -> dict:
    return {"id": token.id, "text": token.text, "logprob": None, "special": token.special}


def generated_text(call: GenerateCall, tokens: list[GeneratedToken]) -> str:
    text = "".join(token.text for token in tokens if not token.special)
    return call.inputs + text if call.return_full_text else text


def generate_response(
    call: GenerateCall, tokens: list[GeneratedToken], prefill: list[dict]
) -> dict:
    """The body of a finished non-streamed generation (one element of POST /'s list)."""
    response: dict = {"generated_text": generated_text(call, tokens)}
    if call.details:
        response["details"] = {
            "finish_reason": tokens[-1].finish.value,
            "generated_tokens": len(tokens),
            "seed": call.params.seed if call.params.sampling else None,
            "prefill": prefill if call.decoder_input_details else [],
            "tokens": [token_json(token) for token in tokens],
            "top_tokens": None,
            "best_of_sequences": None,
        }
    return response


def stream_event(
    call: GenerateCall, token: GeneratedToken, index: int, tokens: list[GeneratedToken], inputs: int
) -> dict:
    """The event of one streamed token; the last one carries the text and the details."""
    event: dict = {
        "index": index,
        "token": token_json(token),
        "top_tokens": None,
        "generated_text": None,
        "details": None,
    }
    if token.finish is not None:
        event["generated_text"] = generated_text(call, tokens)
        if call.details:
            event["details"] = {
                "finish_reason": token.finish.value,
                "generated_tokens": len(tokens),
                "seed": call.params.seed if call.params.sampling else None,
                "input_length": inputs,
            }
    return event


def sse(payload: dict) -> bytes:
    """One server-sent event, as TGI writes it."""
    return b"data:" + json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n\n"
