"""A scripted stand-in for the three dependencies, for tests of the engine's own logic.

The engine is tested here without network or containers: which answer, verdict and
training result each call gets is scripted, so dedup, repair, pause and resume are
exercised exactly. tests/integration/search runs the same engine against the real services.
"""

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from netapi.outcomes import Outcome
from rpc.errors import InvalidArgument
from search_core.domain import EpochMetrics
from search_core.services import (
    CheckVerdict,
    DatasetUnknown,
    DependencyDown,
    Generation,
    ModelIdentity,
    SamplingSettings,
    TrainingResult,
)
from trainer_svc.datasets.builtin import BUILTIN
from trainer_svc.datasets.contents import DatasetError
from trainer_svc.datasets.registry import builtin_record

GOOD = """import torch
from torch import nn


def supported_hyperparameters():
    return {{'lr'}}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.body = nn.Linear({width}, out_shape[0])
"""


# The model the scripted answers name when names_origin is on.
SCRIPTED_MODEL = ModelIdentity(
    name="qwen2.5-coder-0.5b",
    backend="embedded",
    served_model="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    file_sha256="ab" * 32,
)


def model_code(width: int) -> str:
    """A distinct well-formed module per width."""
    return GOOD.format(width=width)


class ScriptedServices:
    def __init__(self) -> None:
        # generate() pops from the front; an exception is raised instead of answered
        # (PromptTooLong: the gateway refused the prompt as over the model's context).
        self.answers: list[str | Exception] = []
        self.verdict: Callable[[str], CheckVerdict] = lambda code: CheckVerdict(
            Outcome.SUCCESS, parameter_count=100, flops=1000
        )
        self.down: dict[str, int] = {}  # stage -> calls that fail with DependencyDown
        self.calls: dict[str, int] = {"generate": 0, "check": 0, "train": 0}
        self.prompts: list = []
        self.sampling: list[tuple[float, int]] = []  # (temperature, seed) of each generate()
        self.train_delay = 0.0
        self.score = 0.5  # the validation score the scripted trainings report
        self.test_score = 0.25  # held out: differs so a test can tell which one steered
        self.training_started = asyncio.Event()
        # Trainings that fail, in order, before the scripted success: (outcome, message).
        self.training_failures: list[tuple[Outcome, str]] = []
        # Whether answers name their origin (prompt digest, model identity, settings used), as
        # a gateway of issue 20 does; False: an older gateway's answer, those fields empty.
        self.names_origin = True

    def _maybe_down(self, stage: str, service: str) -> None:
        self.calls[stage] += 1
        if self.down.get(stage, 0) > 0:
            self.down[stage] -= 1
            raise DependencyDown(service, "UNAVAILABLE: connection refused")

    async def generate(self, prompt, spec, *, model, max_new_tokens, temperature, seed):
        self._maybe_down("generate", "llm_gateway")
        self.prompts.append(prompt)
        self.sampling.append((temperature, seed))
        code = self.answers.pop(0) if self.answers else ""
        if isinstance(code, Exception):
            raise code
        outcome = Outcome.SUCCESS if code else Outcome.NO_CODE
        answer = Generation(
            code=code,
            outcome=outcome,
            model="qwen2.5-coder-0.5b",
            raw_text=f"<think>widen it</think>```python\n{code}```",
            reasoning="widen it",
        )
        if not self.names_origin:
            return answer
        return replace(
            answer,
            prompt_id=f"{prompt.template}@v2",
            prompt_sha256=hashlib.sha256(repr(prompt).encode()).hexdigest(),
            model_identity=SCRIPTED_MODEL,
            parameters_used=SamplingSettings(max_new_tokens, temperature, 0.95, seed),
        )

    async def check(self, code, spec, *, candidate_id, parameter_budget):
        self._maybe_down("check", "sandbox_runner")
        return self.verdict(code)

    async def train(self, request, on_epoch):
        self._maybe_down("train", "trainer_svc")
        self.training_started.set()
        await asyncio.sleep(self.train_delay)
        if self.training_failures:
            outcome, message = self.training_failures.pop(0)
            await on_epoch(EpochMetrics(1, float("nan"), 0.1, 1000.0, 10))
            return TrainingResult(outcome, {}, "TrainingFailure", message)
        for epoch in range(1, request.epochs + 1):
            await on_epoch(EpochMetrics(epoch, 1.0 / epoch, self.score, 1000.0, 10))
        scores = {"accuracy": self.test_score, "validation": self.score}
        return TrainingResult(Outcome.SUCCESS, scores)

    async def dataset(self, name):
        """The trainer's built-in datasets (the scripted trainer has no registered ones)."""
        try:
            return builtin_record(name, Path("var"))
        except DatasetError as exc:
            raise DatasetUnknown(str(exc)) from exc

    async def datasets(self):
        return [builtin_record(name, Path("var")) for name in BUILTIN]

    async def add_dataset(self, name, format_name, path, *, download, replace):
        raise InvalidArgument("the scripted trainer registers no datasets")


def method_factory(make):
    """An engine's method factory (async, as search_core.methods.MethodFactory) that answers
    make(config, tenant) for every search."""

    async def factory(config, tenant):
        return make(config, tenant)

    return factory
