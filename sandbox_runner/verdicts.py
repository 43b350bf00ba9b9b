"""The domain result of a check, and how a container's raw result becomes one."""

from dataclasses import dataclass, field, replace

from netapi.findings import Finding, Verdict
from netapi.outcomes import Outcome, Stage


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one candidate with everything the check measured."""

    outcome: Outcome
    stage: Stage | None = None
    findings: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()  # recorded and shown, never the outcome
    error_type: str = ""
    error_message: str = ""
    parameter_count: int = 0
    flops: int = 0
    peak_memory_bytes: int = 0
    output_shape: list[int] = field(default_factory=list)
    shape_trace: list[dict] = field(default_factory=list)
    unused_parameters: list[str] = field(default_factory=list)
    durations_ms: dict[str, float] = field(default_factory=dict)
    wall_time_ms: float = 0.0
    mode: str = "static"  # "static" (no container), "warm" or "cold"

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome.value,
            "stage": self.stage.value if self.stage else None,
            "findings": [finding.to_dict() for finding in self.findings],
            "warnings": [finding.to_dict() for finding in self.warnings],
            "error": (
                {"type": self.error_type, "message": self.error_message}
                if self.error_message
                else None
            ),
            "parameter_count": self.parameter_count,
            "flops": self.flops,
            "peak_memory_bytes": self.peak_memory_bytes,
            "output_shape": self.output_shape,
            "unused_parameters": self.unused_parameters,
            "shape_trace": self.shape_trace,
            "durations_ms": self.durations_ms,
            "wall_time_ms": round(self.wall_time_ms, 1),
            "mode": self.mode,
        }


def from_static(verdict: Verdict) -> CheckResult:
    first = verdict.findings[0]
    return CheckResult(
        verdict.outcome,
        Stage.STATIC,
        verdict.findings,
        verdict.warnings,
        error_type="static",
        error_message=first.message,
    )


def from_container(raw: dict) -> CheckResult:
    """A validated harness result (netapi.harness.protocol.parse_result) as a CheckResult."""
    findings: tuple[Finding, ...] = ()
    if raw["outcome"] is not Outcome.SUCCESS:
        findings = (
            Finding(
                f"{raw['stage'] or 'run'}-failure",
                raw["outcome"],
                raw["error_message"] or raw["outcome"].value,
                raw["error_line"],
                0,
                raw["stage"] or Stage.IMPORT,
            ),
        )
    return CheckResult(
        outcome=raw["outcome"],
        stage=raw["stage"],
        findings=findings,
        warnings=raw["warnings"],
        error_type=raw["error_type"],
        error_message=raw["error_message"],
        parameter_count=raw["parameter_count"],
        flops=raw["flops"],
        peak_memory_bytes=raw["peak_memory_bytes"],
        output_shape=raw["output_shape"],
        shape_trace=raw["shape_trace"],
        unused_parameters=raw["unused_parameters"],
        durations_ms=raw["durations_ms"],
    )


def with_static_warnings(result: CheckResult, warnings: tuple[Finding, ...]) -> CheckResult:
    """The result with the static check's warnings first; a run-time warning of the same rule
    (`criterion` seen again at the learn stage) adds nothing and is dropped."""
    rules = {finding.rule for finding in warnings}
    later = tuple(finding for finding in result.warnings if finding.rule not in rules)
    return replace(result, warnings=(*warnings, *later))


def failed(
    outcome: Outcome, stage: Stage | None, message: str, error_type: str = ""
) -> CheckResult:
    """A verdict decided on the host side (timeout, OOM, flood, infra error)."""
    finding = Finding(
        outcome.value.replace("_", "-"), outcome, message, stage=stage or Stage.IMPORT
    )
    return CheckResult(
        outcome,
        stage,
        (finding,),
        error_type=error_type or outcome.value,
        error_message=finding.message,
    )
