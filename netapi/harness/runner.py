"""Run one check job in this process: the harness's core, shared with the in-process benchmark."""

import time
import warnings

import torch

from netapi.harness.stages import Check, StageFailed
from netapi.outcomes import Outcome


def quiet_numpy_warning() -> None:
    """torch warns on first use where numpy is missing (the CUDA image, an older CPU image);
    the CPU image carries numpy now, for torchvision."""
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


def warm_up() -> None:
    """Pay torch's lazy initialisation (first forward/backward, flop counter) before any job."""
    from netapi.harness.flops import TotalFlops

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.LazyLinear(2),
    )
    model(torch.randn(2, 3, 8, 8))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 8, 8)), torch.tensor([0, 1]))
    loss.backward()
    optimizer.step()
    with torch.no_grad(), TotalFlops():
        model(torch.randn(2, 3, 8, 8))


def run_job(job: dict) -> dict:
    """Check one candidate; always returns a result dict (never raises for candidate faults)."""
    started = time.perf_counter()
    check = Check(
        job["code"],
        job["spec"],
        int(job["parameter_budget"]),
        torch.device(job.get("device", "cpu")),
    )
    result: dict = {
        "nonce": job["nonce"],
        "outcome": Outcome.SUCCESS.value,
        "stage": None,
        "error": None,
    }
    try:
        report = check.run()
    except StageFailed as failure:
        report = check.report
        result.update(
            outcome=failure.outcome.value,
            stage=failure.stage.value,
            error={"type": failure.error_type, "message": failure.message, "line": failure.line},
        )
    except RecursionError as error:
        report = check.report
        result.update(
            outcome=Outcome.RUNTIME_ERROR.value,
            stage=None,
            error={"type": "RecursionError", "message": str(error)[:500], "line": 0},
        )
    result.update(
        parameter_count=report.parameter_count,
        flops=report.flops,
        peak_memory_bytes=report.peak_memory_bytes,
        output_shape=report.output_shape,
        shape_trace=report.shape_trace,
        unused_parameters=report.unused_parameters,
        warnings=[finding.to_dict() for finding in report.warnings],
        durations_ms={
            **report.durations_ms,
            "total": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return result
