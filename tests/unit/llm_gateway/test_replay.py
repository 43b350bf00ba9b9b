"""Recording and replaying the model's answers: through the real gateway core, with a backend
that counts its calls, so a rerun can be shown to reproduce answers without asking the model."""

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from llm_gateway.config import GatewaySettings, ModelConfig
from llm_gateway.core import LlmGateway
from llm_gateway.domain import (
    ChatTurn,
    FinishReason,
    Generation,
    GenerationRequest,
    TokenPiece,
    UpstreamAnswer,
)
from llm_gateway.metrics import GatewayMetrics
from llm_gateway.replay import MAX_RECORD_BYTES
from netapi.code_policy import CodePolicy
from rpc.errors import FailedPrecondition

MODEL = ModelConfig(name="m", backend="tgi", url="http://127.0.0.1:9")


class SeededBackend:
    """Answers code that depends on the seed and the prompt, and counts its calls."""

    kind = "tgi"

    def __init__(self) -> None:
        self.calls = 0

    def _answer(self, request) -> UpstreamAnswer:
        self.calls += 1
        text = (
            f"```python\nseed = {request.sampling.seed}\nprompt = {len(request.prompt_text)}\n```"
        )
        return UpstreamAnswer(text, FinishReason.EOS, 17, 42)

    async def generate(self, request, budget_seconds):
        return self._answer(request)

    async def generate_stream(self, request, budget_seconds):
        answer = self._answer(request)
        for index, line in enumerate(answer.text.splitlines(keepends=True)):
            yield TokenPiece(line, index)
        yield answer

    async def close(self) -> None:
        pass


def gateway(mode: str, directory: Path, observer=None) -> tuple[LlmGateway, SeededBackend]:
    settings = GatewaySettings(
        models=[MODEL],
        auth_tokens_file=None,
        plaintext=True,
        record_mode=mode,
        record_dir=directory,
    )
    core = LlmGateway(settings, policy=CodePolicy(), observer=observer)
    backend = SeededBackend()
    core._models[MODEL.name].backend = backend
    return core, backend


def request(seed: int = 7, prompt: str = "Write a small model.") -> GenerationRequest:
    return GenerationRequest(
        model=MODEL.name, messages=(ChatTurn("user", prompt),), seed=seed, temperature=0.8
    )


async def generate(core: LlmGateway, seed: int = 7, prompt: str = "Write a small model."):
    return await core.generate(request(seed, prompt), tenant="acme", deadline=None)


async def stream(core: LlmGateway, seed: int = 7) -> tuple[list[TokenPiece], Generation]:
    items = [
        item async for item in core.generate_stream(request(seed), tenant="beta", deadline=None)
    ]
    return items[:-1], items[-1]


def recordings(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))


async def test_a_replay_serves_the_recorded_answer_without_the_model(tmp_path):
    recorder, recording_backend = gateway("record", tmp_path)
    recorded = await generate(recorder)
    assert recording_backend.calls == 1
    assert len(recordings(tmp_path)) == 1

    replayer, replaying_backend = gateway("replay", tmp_path)
    replayed = await generate(replayer)
    assert replaying_backend.calls == 0
    assert replayed.text == recorded.text
    assert replayed.finish_reason == recorded.finish_reason
    assert (replayed.prompt_tokens, replayed.generated_tokens) == (42, 17)
    assert replayed.analysis == recorded.analysis  # the checks ran again on the replayed text
    assert replayed.upstream_attempts == 0  # what tells a replayed answer from a fresh one
    assert recorded.upstream_attempts == 1


async def test_the_recording_holds_the_answer_and_what_it_was_asked_with(tmp_path):
    recorder, _ = gateway("record", tmp_path)
    await generate(recorder)
    (path,) = recordings(tmp_path)
    record = json.loads(path.read_text(encoding="utf-8"))
    assert path.stem == record["key"]
    assert (record["model"], record["seed"], record["temperature"]) == ("m", 7, 0.8)
    assert record["text"].startswith("```python\nseed = 7")
    assert record["finish_reason"] == "eos_token"
    assert (record["prompt_tokens"], record["generated_tokens"]) == (42, 17)
    assert record["generation_seconds"] >= 0
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


async def test_a_stream_is_recorded_and_replayed(tmp_path):
    recorder, _ = gateway("record", tmp_path)
    _, recorded = await stream(recorder)

    replayer, backend = gateway("replay", tmp_path)
    pieces, replayed = await stream(replayer)
    assert backend.calls == 0
    assert "".join(piece.text for piece in pieces) == recorded.text
    assert replayed.text == recorded.text
    assert replayed.analysis == recorded.analysis


async def test_a_miss_in_replay_mode_is_a_clear_error_and_never_calls_the_model(tmp_path):
    replayer, backend = gateway("replay", tmp_path)
    with pytest.raises(FailedPrecondition, match="replay has no recorded answer for this request"):
        await generate(replayer)
    with pytest.raises(FailedPrecondition, match="replay has no recorded answer"):
        await stream(replayer)
    assert backend.calls == 0


@pytest.mark.parametrize(
    "changed", [{"seed": 8}, {"prompt": "Write a small model!"}], ids=["seed", "prompt"]
)
async def test_a_changed_seed_or_prompt_is_a_miss(tmp_path, changed):
    recorder, _ = gateway("record", tmp_path)
    await generate(recorder)
    replayer, backend = gateway("replay", tmp_path)
    with pytest.raises(FailedPrecondition, match="no recorded answer"):
        await generate(replayer, **changed)
    assert backend.calls == 0


async def test_the_tenant_is_not_part_of_the_key(tmp_path):
    recorder, _ = gateway("record", tmp_path)
    await recorder.generate(request(), tenant="acme", deadline=None)
    replayer, backend = gateway("replay", tmp_path)
    await replayer.generate(request(), tenant="beta", deadline=None)
    assert backend.calls == 0


@pytest.mark.parametrize(
    "corruption",
    [
        lambda text: text[: len(text) // 2],
        lambda text: json.dumps({**json.loads(text), "generated_tokens": "many"}),
        lambda text: json.dumps({**json.loads(text), "finish_reason": "tired"}),
        lambda text: json.dumps({**json.loads(text), "key": "0" * 64}),
        lambda text: text + " " * MAX_RECORD_BYTES,
    ],
    ids=["cut", "wrong-type", "unknown-finish-reason", "other-key", "too-large"],
)
async def test_a_corrupt_recording_is_a_clear_error(tmp_path, corruption):
    recorder, _ = gateway("record", tmp_path)
    await generate(recorder)
    (path,) = recordings(tmp_path)
    path.write_text(corruption(path.read_text(encoding="utf-8")), encoding="utf-8")
    for mode in ("replay", "record-missing"):
        replayer, backend = gateway(mode, tmp_path)
        with pytest.raises(FailedPrecondition, match=r"recorded answer .* is unreadable"):
            await generate(replayer)
        assert backend.calls == 0


async def test_record_missing_replays_hits_and_records_misses_only(tmp_path):
    recorder, _ = gateway("record", tmp_path)
    first = await generate(recorder, seed=1)
    (recorded_first,) = recordings(tmp_path)
    written = recorded_first.stat().st_mtime_ns

    filler, backend = gateway("record-missing", tmp_path)
    assert (await generate(filler, seed=1)).text == first.text
    assert backend.calls == 0
    second = await generate(filler, seed=2)
    assert backend.calls == 1
    assert len(recordings(tmp_path)) == 2
    assert recorded_first.stat().st_mtime_ns == written  # a hit is not written again

    replayer, replaying_backend = gateway("replay", tmp_path)
    assert (await generate(replayer, seed=2)).text == second.text
    assert replaying_backend.calls == 0


async def test_off_neither_reads_nor_writes_recordings(tmp_path):
    recorder, _ = gateway("record", tmp_path)
    await generate(recorder)
    plain, backend = gateway("off", tmp_path)
    await generate(plain, seed=3)
    await generate(plain)
    assert backend.calls == 2
    assert len(recordings(tmp_path)) == 1


async def test_replayed_answers_are_counted(tmp_path):
    recorder, _ = gateway("record", tmp_path)
    await generate(recorder)
    registry = CollectorRegistry()
    settings = GatewaySettings(models=[MODEL], auth_tokens_file=None, plaintext=True)
    metrics = GatewayMetrics.for_settings(registry, settings)
    counter = "nasforge_gateway_replayed_answers_total"
    assert registry.get_sample_value(counter, {"model": "m"}) == 0
    replayer, _ = gateway("replay", tmp_path, observer=metrics)
    await generate(replayer)
    await stream(replayer)
    assert registry.get_sample_value(counter, {"model": "m"}) == 2
    assert (
        registry.get_sample_value("nasforge_gateway_generated_tokens_total", {"model": "m"}) == 34
    )


def test_a_recording_mode_needs_a_directory():
    for mode in ("record", "replay", "record-missing"):
        with pytest.raises(ValidationError, match="record_dir"):
            GatewaySettings(models=[MODEL], record_mode=mode)
    with pytest.raises(ValidationError):
        GatewaySettings(models=[MODEL], record_mode="rewind", record_dir="x")


def test_the_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NASFORGE_GATEWAY_RECORD_MODE", "record-missing")
    monkeypatch.setenv("NASFORGE_GATEWAY_RECORD_DIR", str(tmp_path))
    settings = GatewaySettings(models=[MODEL])
    assert (settings.record_mode, settings.record_dir) == ("record-missing", tmp_path)
    assert GatewaySettings.model_fields["record_mode"].default == "off"
