"""The run-time stages of a check: import, API, instantiate, forward, learn; first failure decides.

Each stage either passes or raises StageFailed carrying one outcome and a message that
names the candidate's line and, inside container modules, the failing submodule and the
shapes it received and expected.
"""

import resource
import sys
import time
import types
from dataclasses import dataclass, field

import torch
from torch import nn

from netapi.criteria import (
    CRITERION,
    CRITERION_MESSAGE,
    CRITERION_RULE,
    MISSING_CRITERIA_MESSAGE,
    criteria_attribute,
    criteria_of,
)
from netapi.findings import Finding, warning
from netapi.harness import synthetic
from netapi.harness.failures import CANDIDATE_ERRORS, CANDIDATE_FILENAME, describe
from netapi.harness.flops import TotalFlops
from netapi.harness.module_probe import ModuleProbe, shapes
from netapi.outcomes import Outcome, Stage
from netapi.tasks import TaskSpec

MAX_UNUSED_REPORTED = 20
CANDIDATE_MODULE = "candidate"


class StageFailed(Exception):
    """A stage failed: the outcome, stage and message of the verdict."""

    def __init__(
        self, outcome: Outcome, stage: Stage, message: str, error_type: str = "", line: int = 0
    ) -> None:
        super().__init__(message)
        self.outcome, self.stage, self.message = outcome, stage, message
        self.error_type, self.line = error_type, line


@dataclass
class CheckReport:
    """Everything a successful check measured."""

    parameter_count: int = 0
    flops: int = 0
    peak_memory_bytes: int = 0
    output_shape: list = field(default_factory=list)
    shape_trace: list = field(default_factory=list)
    unused_parameters: list = field(default_factory=list)
    durations_ms: dict = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)  # recorded, never an outcome


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Check:
    """One candidate checked against one task spec."""

    def __init__(
        self, source: str, spec: TaskSpec, parameter_budget: int, device: torch.device
    ) -> None:
        self.source, self.spec, self.budget, self.device = source, spec, parameter_budget, device
        self.lines = source.splitlines()
        self.namespace: dict = {}
        self.report = CheckReport()
        self.generator = torch.Generator().manual_seed(0)

    def _fail(self, stage: Stage, error: BaseException, probe: ModuleProbe | None = None):
        failure = describe(
            error, self.namespace, self.lines, probe.failing_module() if probe else ""
        )
        raise StageFailed(
            failure.outcome, stage, failure.message, failure.type, failure.line
        ) from None

    def _timed(self, stage: Stage, started: float) -> None:
        self.report.durations_ms[stage.value] = round((time.perf_counter() - started) * 1000, 1)

    def run(self) -> CheckReport:
        module = self.import_module()
        net_class, declared = self.read_api(module)
        model = self.instantiate(net_class, declared)
        self._forward(model)
        self._learn(model, declared)
        self.report.peak_memory_bytes = _peak_rss_bytes()
        return self.report

    def import_module(self) -> types.ModuleType:
        started = time.perf_counter()
        module = types.ModuleType(CANDIDATE_MODULE)
        module.__file__ = CANDIDATE_FILENAME
        self.namespace = module.__dict__
        # Registered as a real module before it runs: dataclasses, typing.get_type_hints and
        # pickle find a class's module through sys.modules[cls.__module__]
        # (`from __future__ import annotations` with a @dataclass needs it at import).
        sys.modules[CANDIDATE_MODULE] = module
        try:
            exec(compile(self.source, CANDIDATE_FILENAME, "exec"), self.namespace)
        except CANDIDATE_ERRORS as error:  # every failure becomes an outcome
            self._fail(Stage.IMPORT, error)
        self._timed(Stage.IMPORT, started)
        return module

    def read_api(self, module: types.ModuleType) -> tuple[type, set[str]]:
        supported = getattr(module, "supported_hyperparameters", None)
        net_class = getattr(module, "Net", None)
        if not callable(supported):
            raise StageFailed(
                Outcome.API_NONCOMPLIANCE, Stage.API, "supported_hyperparameters is not a function"
            )
        if not (isinstance(net_class, type) and issubclass(net_class, nn.Module)):
            raise StageFailed(
                Outcome.API_NONCOMPLIANCE, Stage.API, "Net is not a subclass of torch.nn.Module"
            )
        for method in ("train_setup", "learn", "forward"):
            if not callable(getattr(net_class, method, None)):
                raise StageFailed(Outcome.API_NONCOMPLIANCE, Stage.API, f"Net has no {method}()")
        try:
            declared = supported()
        except CANDIDATE_ERRORS as error:
            self._fail(Stage.API, error)
        if not isinstance(declared, set | frozenset | list | tuple) or not all(
            isinstance(name, str) for name in declared
        ):
            raise StageFailed(
                Outcome.API_NONCOMPLIANCE,
                Stage.API,
                "supported_hyperparameters() must return a set of names",
            )
        return net_class, set(declared)

    def instantiate(self, net_class: type, declared: set[str]) -> nn.Module:
        started = time.perf_counter()
        prm = synthetic.prm_for(self.spec, declared)
        try:
            model = net_class(self.spec.in_shape, self.spec.out_shape, prm, self.device)
            model.to(self.device)
        except CANDIDATE_ERRORS as error:
            self._fail(Stage.INSTANTIATE, error)
        count = sum(parameter.numel() for parameter in model.parameters())
        self.report.parameter_count = count
        if count > self.budget:
            raise StageFailed(
                Outcome.TOO_LARGE,
                Stage.INSTANTIATE,
                f"{count:,} parameters is over the budget of {self.budget:,} "
                "(parameter_budget of the search, nasforge sandbox check --parameter-budget, "
                "NASFORGE_SANDBOX_PARAMETER_BUDGET)",
            )
        self._timed(Stage.INSTANTIATE, started)
        return model

    def _forward(self, model: nn.Module) -> None:
        started = time.perf_counter()
        inputs, targets = synthetic.batch(self.spec, self.generator)
        inputs, targets = inputs.to(self.device), targets.to(self.device)
        probe = ModuleProbe(model, tracing=True)
        model.eval()
        try:
            with torch.no_grad(), probe.watching(), TotalFlops() as flops:
                if self.spec.is_captioning:
                    output = model(inputs, targets)
                else:
                    output = model(inputs)
        except CANDIDATE_ERRORS as error:
            self._fail(Stage.FORWARD, error, probe)
        self.report.flops = int(flops.get_total_flops())
        self.report.shape_trace = probe.trace
        if self.spec.is_captioning:
            self._check_captioning_output(output, targets)
            self._check_generation(model, inputs)
        else:
            self._check_classification_output(output)
        self._timed(Stage.FORWARD, started)

    def _check_classification_output(self, output: object) -> None:
        expected = [self.spec.in_shape[0], self.spec.out_shape[0]]
        self.report.output_shape = shapes(output)
        if not isinstance(output, torch.Tensor) or list(output.shape) != expected:
            raise StageFailed(
                Outcome.SHAPE_MISMATCH,
                Stage.FORWARD,
                f"forward(x) returned {shapes(output) or type(output).__name__}; "
                f"expected logits of shape {expected}",
            )

    def _check_captioning_output(self, output: object, captions: torch.Tensor) -> None:
        logits = output[0] if isinstance(output, tuple | list) and output else output
        batch, length = captions.shape[0], captions.shape[2] - 1
        expected = [batch, length, self.spec.out_shape[0]]
        self.report.output_shape = shapes(logits)
        if not isinstance(logits, torch.Tensor) or list(logits.shape) != expected:
            raise StageFailed(
                Outcome.SHAPE_MISMATCH,
                Stage.FORWARD,
                f"forward(images, captions) returned logits "
                f"{shapes(logits) or type(logits).__name__}; expected {expected} "
                f"(teacher forcing on captions[:, 0, :-1])",
            )

    def _check_generation(self, model: nn.Module, inputs: torch.Tensor) -> None:
        probe = ModuleProbe(model)
        try:
            with torch.no_grad(), probe.watching():
                generated = model(inputs)
        except CANDIDATE_ERRORS as error:
            self._fail(Stage.FORWARD, error, probe)
        if isinstance(generated, tuple | list) and generated:
            generated = generated[0]
        if (
            not isinstance(generated, torch.Tensor)
            or generated.dim() != 2
            or generated.shape[0] != inputs.shape[0]
        ):
            got = shapes(generated) or type(generated).__name__
            raise StageFailed(
                Outcome.SHAPE_MISMATCH,
                Stage.FORWARD,
                f"forward(images) returned {got}; expected generated token ids "
                f"of shape [{inputs.shape[0]}, T]",
            )
        if generated.is_floating_point():
            raise StageFailed(
                Outcome.API_NONCOMPLIANCE,
                Stage.FORWARD,
                "forward(images) must return integer token ids, not floats",
            )

    def _learn(self, model: nn.Module, declared: set[str]) -> None:
        started = time.perf_counter()
        prm = synthetic.prm_for(self.spec, declared)
        probe = ModuleProbe(model)
        model.train()
        try:
            model.train_setup(prm)
        except CANDIDATE_ERRORS as error:
            self._fail(Stage.LEARN, error)
        try:
            attribute, losses = criteria_attribute(model), criteria_of(model)
        except CANDIDATE_ERRORS as error:  # a property that raises
            self._fail(Stage.LEARN, error)
        if not losses or not all(callable(loss) for loss in losses):
            raise StageFailed(
                Outcome.API_NONCOMPLIANCE,
                Stage.LEARN,
                MISSING_CRITERIA_MESSAGE,
            )
        if attribute == CRITERION:
            self.report.warnings.append(
                warning(CRITERION_RULE, CRITERION_MESSAGE, stage=Stage.LEARN)
            )
        if not isinstance(getattr(model, "optimizer", None), torch.optim.Optimizer):
            raise StageFailed(
                Outcome.API_NONCOMPLIANCE,
                Stage.LEARN,
                "train_setup() must set self.optimizer to a torch.optim.Optimizer",
            )
        before = [parameter.detach().clone() for parameter in model.parameters()]
        try:
            with probe.watching():
                model.learn(synthetic.loader(self.spec, self.generator))
        except CANDIDATE_ERRORS as error:
            self._fail(Stage.LEARN, error, probe)
        changed = any(
            not torch.equal(old, new.detach())
            for old, new in zip(before, model.parameters(), strict=True)
        )
        if before and not changed:
            raise StageFailed(
                Outcome.API_NONCOMPLIANCE,
                Stage.LEARN,
                "learn() ran but did not update any parameter",
            )
        self.report.unused_parameters = [
            name
            for name, parameter in model.named_parameters()
            if parameter.requires_grad and parameter.grad is None
        ][:MAX_UNUSED_REPORTED]
        self._timed(Stage.LEARN, started)
