"""The harness's wire format: one JSON job line in, one JSON result line out, both size-capped.

Shared by the harness (inside the container) and the host, which validates every result.
"""

import json

from netapi.criteria import CRITERION_MESSAGE, CRITERION_RULE
from netapi.findings import Finding, sanitise, warning
from netapi.outcomes import Outcome, Stage
from netapi.tasks import TaskSpec, validate

MAX_JOB_BYTES = 1024 * 1024
MAX_RESULT_BYTES = 256 * 1024
READY_KEY = "ready"
MAX_WARNINGS = 20
# The warnings a check raises at run time (netapi.harness.stages), with what the host shows.
RUN_TIME_WARNINGS = {CRITERION_RULE: CRITERION_MESSAGE}


class ProtocolError(ValueError):
    """A job or result line that does not follow the protocol."""


def job_line(
    nonce: str, code: str, spec: TaskSpec, parameter_budget: int, device: str = "cpu"
) -> bytes:
    line = (
        json.dumps(
            {
                "nonce": nonce,
                "code": code,
                "task": {
                    "task": spec.task,
                    "dataset": spec.dataset,
                    "in_shape": list(spec.in_shape),
                    "out_shape": list(spec.out_shape),
                    "hyperparameters": spec.hyperparameters,
                    "transform": spec.transform,
                },
                "parameter_budget": parameter_budget,
                "device": device,
            }
        ).encode()
        + b"\n"
    )
    if len(line) > MAX_JOB_BYTES:
        raise ProtocolError(f"job is {len(line)} bytes, over {MAX_JOB_BYTES}")
    return line


def parse_job(line: bytes) -> dict:
    if len(line) > MAX_JOB_BYTES:
        raise ProtocolError("job line too long")
    job = json.loads(line)
    task = job["task"]
    job["spec"] = validate(
        TaskSpec(
            task["task"],
            task["dataset"],
            tuple(task["in_shape"]),
            tuple(task["out_shape"]),
            dict(task["hyperparameters"]),
            task["transform"],
        )
    )
    return job


def _int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"result field {name} is not a non-negative integer")
    return value


def _shape_list(value: object, depth: int = 0) -> list:
    """A nested list of non-negative ints (tensor shapes), or [] when it is anything else."""
    if not isinstance(value, list) or depth > 4:
        return []
    if all(isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 for dim in value):
        return value[:8]
    return [_shape_list(item, depth + 1) for item in value[:16] if isinstance(item, list)]


def _trace(entries: object) -> list[dict]:
    """The shape trace with every field type-checked and bounded; malformed entries dropped."""
    if not isinstance(entries, list):
        return []
    return [
        {
            "module": sanitise(str(entry.get("module", "")), 200),
            "type": sanitise(str(entry.get("type", "")), 100),
            "input_shapes": _shape_list(entry.get("input_shapes", [])),
            "output_shapes": _shape_list(entry.get("output_shapes", [])),
        }
        for entry in entries[:200]
        if isinstance(entry, dict)
    ]


def _warnings(entries: object) -> tuple[Finding, ...]:
    """The check's warnings: only the rules a check raises at run time, each with the host's own
    message and stage. The candidate's process names a rule and nothing more, so it cannot put
    words in a report; anything else is dropped (a warning decides nothing worth refusing for)."""
    if not isinstance(entries, list):
        return ()
    named = {
        entry.get("rule")
        for entry in entries[:MAX_WARNINGS]
        if isinstance(entry, dict) and isinstance(entry.get("rule"), str)
    }
    return tuple(
        warning(rule, RUN_TIME_WARNINGS[rule], stage=Stage.LEARN)
        for rule in sorted(named & RUN_TIME_WARNINGS.keys())
    )


def parse_result(line: bytes, nonce: str) -> dict:
    """Validate a result line from a container; anything off raises ProtocolError."""
    if len(line) > MAX_RESULT_BYTES:
        raise ProtocolError("result line too long")
    try:
        result = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"result is not JSON: {exc}") from exc
    if not isinstance(result, dict) or result.get("nonce") != nonce:
        raise ProtocolError("result does not carry this run's nonce")
    try:
        outcome = Outcome(result["outcome"])
        stage = Stage(result["stage"]) if result.get("stage") else None
    except (KeyError, ValueError) as exc:
        raise ProtocolError(f"result has no valid outcome/stage: {exc}") from exc
    error = result.get("error")
    if error is not None and not isinstance(error, dict):
        raise ProtocolError("result error is not an object")
    return {
        "outcome": outcome,
        "stage": stage,
        "error_type": sanitise(str((error or {}).get("type", "")), 100),
        "error_message": sanitise(str((error or {}).get("message", "")), 1200),
        "error_line": _int((error or {}).get("line", 0), "error.line"),
        "parameter_count": _int(result.get("parameter_count", 0), "parameter_count"),
        "flops": _int(result.get("flops", 0), "flops"),
        "peak_memory_bytes": _int(result.get("peak_memory_bytes", 0), "peak_memory_bytes"),
        "output_shape": [
            _int(d, "output_shape")
            for d in result.get("output_shape", [])
            if not isinstance(d, list)
        ],
        "shape_trace": _trace(result.get("shape_trace")),
        "unused_parameters": [sanitise(str(n), 200) for n in result.get("unused_parameters", [])][
            :20
        ],
        "warnings": _warnings(result.get("warnings")),
        "durations_ms": {
            str(k): float(v)
            for k, v in result.get("durations_ms", {}).items()
            if isinstance(v, int | float)
        },
    }
