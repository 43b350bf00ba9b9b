"""Recording the models' answers and replaying them, so a rerun reproduces a search exactly.

The template methods reproduce their figures from their seeds alone; a model does not (a
server's batching, a new build, a GPU's arithmetic change an answer under the same seed), and
asking it again costs the time of the first run. So the gateway can keep each answer under a
key and serve it again. The key is a SHA-256 of what decides an answer: the model, the exact
conversation and rendered prompt, the sampling and the grammar; never who asked or when.

Only the upstream call is wrapped: quotas, code extraction, the hallucination checks and the
token metrics run on a replayed answer as on a fresh one. A replayed answer made no upstream
attempt (the response's upstream_attempts is 0), which is how a report tells it apart.
"""

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_gateway.config import ModelConfig, RecordMode
from llm_gateway.domain import FinishReason, TokenPiece, UpstreamAnswer, UpstreamRequest
from llm_gateway.upstream import Attempts, ModelUpstream
from rpc.errors import FailedPrecondition

log = logging.getLogger(__name__)

# An answer is bounded by max_new_tokens_limit; a file this large is not one the gateway wrote.
MAX_RECORD_BYTES = 4 * 1024 * 1024


def answer_key(config: ModelConfig, request: UpstreamRequest) -> str:
    """SHA-256 (hex) of the canonical JSON of everything that decides the model's answer."""
    sampling = request.sampling
    constraint = request.constraint
    decisive = {
        "model": config.name,
        "upstream_model": config.upstream_model,
        "messages": [[turn.role, turn.content] for turn in request.messages],
        "prompt_text": request.prompt_text,
        "max_new_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "seed": sampling.seed,
        "stop": list(sampling.stop),
        "constraint": None if constraint is None else [constraint.kind, constraint.value],
    }
    canonical = json.dumps(decisive, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RecordedAnswer(BaseModel):
    """One file's contents: the answer, and enough of the request to tell what it answered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[0-9a-f]{64}$")
    model: str
    seed: int | None
    temperature: float | None
    text: str
    finish_reason: FinishReason
    generated_tokens: int = Field(ge=0)
    prompt_tokens: int | None = Field(ge=0)
    generation_seconds: float = Field(ge=0)

    @classmethod
    def of(
        cls, key: str, model: str, request: UpstreamRequest, answer: UpstreamAnswer, seconds: float
    ) -> "RecordedAnswer":
        return cls(
            key=key,
            model=model,
            seed=request.sampling.seed,
            temperature=request.sampling.temperature,
            text=answer.text,
            finish_reason=answer.finish_reason,
            generated_tokens=answer.generated_tokens,
            prompt_tokens=answer.prompt_tokens,
            generation_seconds=seconds,
        )

    def answer(self) -> UpstreamAnswer:
        return UpstreamAnswer(
            self.text, self.finish_reason, self.generated_tokens, self.prompt_tokens
        )


def _unreadable(key: str, reason: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"the recorded answer {key} is unreadable ({reason}); delete its file to record it again"
    )


def _validation_reason(error: ValidationError) -> str:
    """The fields at fault, without the values (an answer's text can be long)."""
    return "; ".join(
        f"{'.'.join(map(str, item['loc'])) or 'file'}: {item['msg']}" for item in error.errors()
    )


class AnswerStore:
    """One JSON file per key in a directory; a file is written whole or not at all."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _path(self, key: str) -> Path:
        return self._directory / f"{key}.json"

    def load(self, key: str) -> RecordedAnswer | None:
        """The answer kept under ``key``, None when there is none; a bad file is an error."""
        path = self._path(key)
        try:
            with path.open("rb") as file:
                data = file.read(MAX_RECORD_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("recorded answer %s cannot be read: %s", path, exc)
            raise _unreadable(key, exc.strerror or type(exc).__name__) from exc
        if len(data) > MAX_RECORD_BYTES:
            raise _unreadable(key, f"over {MAX_RECORD_BYTES} bytes")
        try:
            record = RecordedAnswer.model_validate_json(data)
        except ValidationError as exc:
            log.warning("recorded answer %s is invalid: %s", path, exc)
            raise _unreadable(key, _validation_reason(exc)) from None
        if record.key != key:
            raise _unreadable(key, f"the file holds the answer of key {record.key}")
        return record

    def save(self, record: RecordedAnswer) -> None:
        """Write to a temporary file and rename it, so a reader never sees half a file."""
        data = record.model_dump_json(indent=1).encode("utf-8")
        if len(data) > MAX_RECORD_BYTES:
            log.warning("answer %s is over %d bytes: not recorded", record.key, MAX_RECORD_BYTES)
            return
        self._directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self._directory, prefix=f".{record.key}.")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, self._path(record.key))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class ReplayObserver(Protocol):
    """Where replayed answers are counted (llm_gateway.metrics implements it)."""

    def answer_replayed(self, model: str) -> None: ...


class AnswerRecorder:
    """A model's upstream call as the record mode wants it: passed through, recorded, replayed."""

    def __init__(self, mode: RecordMode, directory: Path | None, observer: ReplayObserver) -> None:
        self._replays = mode in ("replay", "record-missing")
        self._records = mode in ("record", "record-missing")
        self._misses_fail = mode == "replay"
        if (self._replays or self._records) and directory is None:
            raise ValueError(f"record mode {mode} needs a directory")
        self._store = AnswerStore(directory or Path())  # never touched when the mode is off
        self._observer = observer

    def _replayed(self, model: str, key: str) -> UpstreamAnswer | None:
        """The kept answer when the mode reads them; in replay mode a miss is an error."""
        if not self._replays:
            return None
        record = self._store.load(key)
        if record is None:
            if self._misses_fail:
                raise FailedPrecondition(
                    f"replay has no recorded answer for this request to model {model} "
                    f"(key {key}); record it with record_mode record or record-missing"
                )
            return None
        log.info("replayed the recorded answer %s of model %s", key, model)
        self._observer.answer_replayed(model)
        return record.answer()

    def _record(
        self, key: str, model: str, request: UpstreamRequest, answer: UpstreamAnswer, seconds: float
    ) -> None:
        if self._records:
            self._store.save(RecordedAnswer.of(key, model, request, answer, seconds))

    async def generate(
        self,
        upstream: ModelUpstream,
        request: UpstreamRequest,
        deadline: float | None,
        attempts: Attempts,
    ) -> UpstreamAnswer:
        """The kept answer, or the model's (kept when the mode records)."""
        model = upstream.config.name
        key = answer_key(upstream.config, request)
        replayed = self._replayed(model, key)
        if replayed is not None:
            return replayed
        answer = await upstream.generate(request, deadline, attempts)
        self._record(key, model, request, answer, attempts.seconds)
        return answer

    async def generate_stream(
        self,
        upstream: ModelUpstream,
        request: UpstreamRequest,
        deadline: float | None,
        attempts: Attempts,
    ) -> AsyncIterator[TokenPiece | UpstreamAnswer]:
        """Like generate(); a kept answer comes as one piece holding its whole text."""
        model = upstream.config.name
        key = answer_key(upstream.config, request)
        replayed = self._replayed(model, key)
        if replayed is not None:
            if replayed.text:
                yield TokenPiece(replayed.text, 0)
            yield replayed
            return
        answer: UpstreamAnswer | None = None
        async with contextlib.aclosing(
            upstream.generate_stream(request, deadline, attempts)
        ) as stream:
            async for item in stream:
                if isinstance(item, UpstreamAnswer):
                    answer = item
                yield item
        if answer is not None:  # recorded once the stream ended, when attempts has its time
            self._record(key, model, request, answer, attempts.seconds)
