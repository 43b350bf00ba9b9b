"""Turn a caller's request into what goes upstream: validated sampling, the conversation (from
the prompt library or as given, a library prompt fitted to the context when it is over), the
answer kind, the task, the constraint, a token estimate. Everything wrong with a request is
found here, before any quota is charged.
"""

import dataclasses
import json
import math
import re
from dataclasses import dataclass

from llm_gateway.chat_templates import ROLES, defuse_turns, render_chat
from llm_gateway.config import ModelConfig
from llm_gateway.domain import (
    AnswerKind,
    ChatTurn,
    Constraint,
    GenerationRequest,
    PromptSelection,
    Sampling,
    UpstreamRequest,
)
from llm_gateway.extraction import CODE_BLOCK_REGEX
from llm_gateway.fitting import fit_prompt
from llm_gateway.prompts.library import PromptLibrary, PromptTemplate
from netapi.tasks import IMG_CLASSIFICATION, TaskSpec, default_spec
from rpc.errors import InvalidArgument, PromptTooLong

MAX_MESSAGES = 64
MAX_CONVERSATION_CHARS = 512 * 1024
MAX_STOP_SEQUENCES = 4  # TGI's default max_stop_sequences
MAX_STOP_CHARS = 64
MAX_TEMPERATURE = 5.0
MAX_SEED = 2**63 - 1
# Byte-pair tokenizers of code models average 3.5-4 bytes a token on code and English; the
# estimate (used only when a backend does not count) errs a little low, and the server's own
# length check catches what it lets through.
BYTES_PER_TOKEN = 4
# Whether a library prompt fits is judged high instead: Qwen2.5's tokenizer gives 3.7 bytes a
# token on an NN-Caption prompt (11,586 tokens where bytes/4 says 10,753), so a prompt that
# "fit" by the estimate was refused by the server. A prompt under this count is sent as is.
BYTES_PER_TOKEN_AT_LEAST = 3.5


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def estimate_tokens_high(text: str) -> int:
    """A count the prompt's real one is very likely under (for fitting, never for charging)."""
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN_AT_LEAST)


@dataclass(frozen=True)
class Prepared:
    """A validated request, ready for quotas and the upstream call."""

    upstream: UpstreamRequest
    answer_kind: AnswerKind
    task: TaskSpec
    json_schema: str | None
    prompt_id: str
    prompt_estimate: int
    fitting: tuple[str, ...] = ()  # steps that fitted the prompt to the context (fitting.py)

    @property
    def worst_case_tokens(self) -> int:
        return self.prompt_estimate + self.upstream.sampling.max_new_tokens


def _sampling(request: GenerationRequest, config: ModelConfig) -> Sampling:
    if request.max_new_tokens < 0:
        raise InvalidArgument("max_new_tokens must not be negative")
    max_new = request.max_new_tokens or config.default_max_new_tokens
    if max_new > config.max_new_tokens_limit:
        raise InvalidArgument(
            f"max_new_tokens {max_new} is over the limit of model {config.name} "
            f"({config.max_new_tokens_limit})"
        )
    temperature = request.temperature
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature):
        raise InvalidArgument("temperature must be a finite number >= 0")
    if temperature is not None and temperature > MAX_TEMPERATURE:
        raise InvalidArgument(f"temperature must be at most {MAX_TEMPERATURE}")
    top_p = request.top_p
    if top_p is not None and not (math.isfinite(top_p) and 0 < top_p <= 1):
        raise InvalidArgument("top_p must be in (0, 1]")
    if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
        raise InvalidArgument("seed must be in [0, 2**63 - 1]")
    if len(request.stop) > MAX_STOP_SEQUENCES:
        raise InvalidArgument(f"at most {MAX_STOP_SEQUENCES} stop sequences")
    if any(not stop or len(stop) > MAX_STOP_CHARS for stop in request.stop):
        raise InvalidArgument(f"stop sequences must have 1 to {MAX_STOP_CHARS} characters")
    return Sampling(
        max_new_tokens=max_new,
        temperature=temperature or None,  # 0 means greedy, as no temperature does
        top_p=None if top_p == 1 else top_p,
        seed=request.seed,
        stop=tuple(request.stop),
    )


def _messages(turns: tuple[ChatTurn, ...]) -> tuple[ChatTurn, ...]:
    if not turns:
        raise InvalidArgument("messages are empty")
    if len(turns) > MAX_MESSAGES:
        raise InvalidArgument(f"at most {MAX_MESSAGES} messages")
    for turn in turns:
        if turn.role not in ROLES:
            raise InvalidArgument(f"message role {turn.role!r} is not one of {', '.join(ROLES)}")
        if "\x00" in turn.content:
            raise InvalidArgument("message content contains a NUL character")
    if not any(turn.role == "user" and turn.content.strip() for turn in turns):
        raise InvalidArgument("the conversation has no user message with text")
    if sum(len(turn.content) for turn in turns) > MAX_CONVERSATION_CHARS:
        raise InvalidArgument(f"the conversation is over {MAX_CONVERSATION_CHARS} characters")
    return turns


def _constraint(
    request: GenerationRequest,
    template: PromptTemplate | None,
    kind: AnswerKind,
    config: ModelConfig,
) -> tuple[Constraint | None, str | None]:
    """(the constraint to send, the JSON schema the answer is checked against)."""
    constraint = request.constraint
    if constraint is not None:
        if constraint.kind == "json":
            try:
                schema = json.loads(constraint.value)
            except json.JSONDecodeError as exc:
                raise InvalidArgument(f"constraint.json_schema is not JSON: {exc}") from exc
            if not isinstance(schema, dict):
                raise InvalidArgument("constraint.json_schema must be a JSON object")
        else:
            try:
                re.compile(constraint.value)
            except re.error as exc:
                raise InvalidArgument(f"constraint.regex does not compile: {exc}") from exc
            if config.backend == "openai":
                raise InvalidArgument(f"model {config.name} takes no regex constraint")
        if not config.supports_constraints:
            raise InvalidArgument(f"model {config.name} takes no constraints")
        schema_text = constraint.value if constraint.kind == "json" else None
        return constraint, schema_text if kind is AnswerKind.JSON else None
    if template is not None and template.json_schema and kind is AnswerKind.JSON:
        sent = Constraint("json", template.json_schema) if config.supports_constraints else None
        return sent, template.json_schema
    if config.constrain_code and kind is AnswerKind.NET_CODE:
        return Constraint("regex", CODE_BLOCK_REGEX), None
    return None, None


def _rendered(turns: tuple[ChatTurn, ...], config: ModelConfig) -> tuple[str, str]:
    """(the prompt text sent to TGI servers, "" for others; the text whose length is counted)."""
    if config.chat_template == "server":
        return "", "\n".join(f"{t.role}: {t.content}" for t in turns)
    prompt_text = render_chat(config.chat_template, turns)
    return prompt_text, prompt_text


def _over(estimate: int, max_new_tokens: int, config: ModelConfig, detail: str = "") -> str:
    return (
        f"the prompt (about {estimate} tokens{detail}) plus max_new_tokens "
        f"({max_new_tokens}) is over model {config.name}'s limit of "
        f"{config.max_total_tokens} tokens"
    )


def _fit(
    template: PromptTemplate,
    selection: PromptSelection,
    turns: tuple[ChatTurn, ...],
    sampling: Sampling,
    config: ModelConfig,
) -> tuple[tuple[ChatTurn, ...], Sampling, tuple[str, ...]]:
    """The library prompt as sent, fitted to the context when it is over (counted high)."""

    def measure(candidate: tuple[ChatTurn, ...]) -> int:
        return estimate_tokens_high(_rendered(candidate, config)[1])

    if measure(turns) + sampling.max_new_tokens <= config.max_total_tokens:
        return turns, sampling, ()
    fitted = fit_prompt(
        template,
        selection,
        max_new_tokens=sampling.max_new_tokens,
        max_total_tokens=config.max_total_tokens,
        measure=measure,
    )
    if not fitted.fits:
        raise PromptTooLong(
            _over(fitted.prompt_estimate, fitted.max_new_tokens, config, " counted high")
            + f" even after {'; '.join(fitted.tried)}"
        )
    sampling = dataclasses.replace(sampling, max_new_tokens=fitted.max_new_tokens)
    return fitted.turns, sampling, fitted.steps


def prepare(request: GenerationRequest, config: ModelConfig, prompts: PromptLibrary) -> Prepared:
    """Validate ``request`` for the model ``config``; INVALID_ARGUMENT or NOT_FOUND if bad,
    OUT_OF_RANGE (PromptTooLong) when the prompt does not fit the model's context."""
    if bool(request.messages) == (request.prompt is not None):
        raise InvalidArgument("give exactly one of messages and prompt")
    template = None
    if request.prompt is not None:
        template = prompts.get(request.prompt.name, request.prompt.version)
        turns = template.render(request.prompt.variables, request.prompt.list_variables)
    else:
        turns = _messages(request.messages)
    kind = request.answer_kind or (template.answer_kind if template else AnswerKind.TEXT)
    if request.task is not None:
        task = request.task
    else:
        task = default_spec(template.task if template and template.task else IMG_CLASSIFICATION)
    constraint, schema = _constraint(request, template, kind, config)
    sampling = _sampling(request, config)
    fitting: tuple[str, ...] = ()
    if template is not None and request.prompt is not None:
        turns, sampling, fitting = _fit(template, request.prompt, turns, sampling, config)
    turns = defuse_turns(turns)  # for every backend: chat servers read control tokens too
    prompt_text, counted = _rendered(turns, config)
    estimate = estimate_tokens(counted)
    if estimate + sampling.max_new_tokens > config.max_total_tokens:
        raise PromptTooLong(_over(estimate, sampling.max_new_tokens, config))
    return Prepared(
        upstream=UpstreamRequest(turns, prompt_text, sampling, constraint),
        answer_kind=kind,
        task=task,
        json_schema=schema,
        prompt_id=template.id if template else "",
        prompt_estimate=estimate,
        fitting=fitting,
    )
