"""Speculative decoding with a draft model on the embedded server: which part of its cache the
draft keeps between calls (with a counting stand-in for the model), the settings that turn it
on, and the real 0.5B model drafting for itself giving the same greedy answer as without."""

import threading
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from llm_gateway.embedded.config import EmbeddedSettings

pytest.importorskip("llama_cpp")  # installed by make llm

from llm_gateway.embedded.draft import ModelDraft, reusable_prefix
from llm_gateway.embedded.engine import GenerateParams, LlamaEngine

MODEL_FILE = Path(__file__).resolve().parents[3] / "var" / "models" / "qwen2.5-coder-0.5b.gguf"
END = 99  # the stand-in's end-of-generation token


class CountingModel:
    """Llama's cache bookkeeping (input_ids, n_tokens, eval) without a model; records what
    each eval call was given."""

    def __init__(self, n_ctx: int = 64) -> None:
        self.input_ids = np.zeros(n_ctx, dtype=np.intc)
        self.n_tokens = 0
        self.evaluated: list[list[int]] = []
        self._n_ctx = n_ctx

    def n_ctx(self) -> int:
        return self._n_ctx

    def eval(self, tokens: list[int]) -> None:
        self.input_ids[self.n_tokens : self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)
        self.evaluated.append(list(tokens))


class CountingDraft(ModelDraft):
    """Guesses that the last evaluated token is followed by the next integer (END ends)."""

    def _next_token(self) -> int | None:
        token = int(self._llm.input_ids[self._llm.n_tokens - 1]) + 1
        return None if token == END else token


def draft(tokens: int = 4, n_ctx: int = 64) -> tuple[CountingDraft, CountingModel]:
    model = CountingModel(n_ctx)
    return CountingDraft(model, tokens), model


def ids(*tokens: int) -> np.ndarray:
    return np.array(tokens, dtype=np.intc)


@pytest.mark.parametrize(
    ("cached", "history", "keep"),
    [
        ([], [1, 2, 3], 0),
        ([1, 2, 3], [1, 2, 4, 5], 2),  # a rejected guess
        ([1, 2, 3], [1, 2, 3, 4, 5], 3),  # the last guess and the new token
        ([1, 2, 3], [1, 2, 3], 2),  # nothing new: the last token is evaluated again
        ([1, 2, 3, 4], [1, 2], 1),
        ([7, 2, 3], [1, 2, 3], 0),
    ],
)
def test_the_reusable_prefix_is_the_common_one_less_the_last_token(cached, history, keep):
    assert reusable_prefix(cached, history) == keep


def test_the_first_call_evaluates_the_prompt_then_each_guess_but_the_last():
    drafter, model = draft(tokens=4)
    assert drafter(ids(1, 2, 3)).tolist() == [4, 5, 6, 7]
    assert model.evaluated == [[1, 2, 3], [4], [5], [6]]


def test_accepted_guesses_and_the_new_token_are_evaluated_in_one_batch():
    drafter, model = draft(tokens=4)
    drafter(ids(1, 2, 3))
    model.evaluated.clear()
    # The target accepted all four guesses (4..7) and sampled 8 after them.
    assert drafter(ids(1, 2, 3, 4, 5, 6, 7, 8)).tolist() == [9, 10, 11, 12]
    assert model.evaluated[0] == [7, 8]


def test_a_rejected_guess_leaves_the_cache_and_the_rest_is_kept():
    drafter, model = draft(tokens=4)
    drafter(ids(1, 2, 3))
    model.evaluated.clear()
    # The target accepted 4 and 5, then sampled 20 instead of 6.
    assert drafter(ids(1, 2, 3, 4, 5, 20)).tolist() == [21, 22, 23, 24]
    assert model.evaluated[0] == [20]
    assert model.input_ids[:6].tolist() == [1, 2, 3, 4, 5, 20]


def test_the_draft_stops_at_the_end_token_and_at_the_end_of_the_context():
    drafter, _ = draft(tokens=4)
    assert drafter(ids(95, 96)).tolist() == [97, 98]
    drafter, _ = draft(tokens=4, n_ctx=8)
    assert drafter(ids(1, 2, 3, 4, 5, 6)).tolist() == [7, 8]
    assert drafter(ids(1, 2, 3, 4, 5, 6, 7, 8)).tolist() == []


def test_a_draft_model_is_off_by_default_and_an_empty_path_is_off(monkeypatch):
    assert EmbeddedSettings().draft_model_path is None
    monkeypatch.setenv("NASFORGE_EMBEDDED_DRAFT_MODEL_PATH", "")
    assert EmbeddedSettings().draft_model_path is None
    monkeypatch.setenv("NASFORGE_EMBEDDED_DRAFT_MODEL_PATH", "var/models/small.gguf")
    settings = EmbeddedSettings()
    assert settings.draft_model_path == Path("var/models/small.gguf")
    assert settings.draft_tokens == 4


def test_prompt_lookup_and_a_draft_model_cannot_both_be_set(monkeypatch):
    monkeypatch.setenv("NASFORGE_EMBEDDED_DRAFT_MODEL_PATH", "var/models/small.gguf")
    monkeypatch.setenv("NASFORGE_EMBEDDED_PROMPT_LOOKUP_TOKENS", "4")
    with pytest.raises(ValidationError, match="not both"):
        EmbeddedSettings()
    with pytest.raises(ValueError, match="exclude each other"):
        LlamaEngine(
            MODEL_FILE, n_ctx=256, threads=1, prompt_lookup_tokens=4, draft_model_path=MODEL_FILE
        )


@pytest.mark.skipif(not MODEL_FILE.is_file(), reason="needs make llm (the 0.5B model)")
def test_the_real_model_drafting_for_itself_gives_the_same_greedy_answer():
    prompt_text = "<|im_start|>user\nWrite a Python function that adds two numbers.<|im_end|>\n"
    prompt_text += "<|im_start|>assistant\n"
    params = GenerateParams(max_new_tokens=8)
    answers = []
    for draft_path in (None, MODEL_FILE):
        engine = LlamaEngine(
            MODEL_FILE, n_ctx=256, threads=1, draft_model_path=draft_path, draft_tokens=3
        )
        prompt = engine.tokenize(prompt_text)
        tokens = engine.generate(prompt, params, threading.Event())
        answers.append([token.id for token in tokens])
    assert len(answers[0]) == 8
    assert answers[1] == answers[0]
