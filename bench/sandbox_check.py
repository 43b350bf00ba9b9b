"""Benchmark of a sandbox check: no isolation vs a cold container vs the warm pool.

    make bench-sandbox        (or: .venv/bin/python -m bench.sandbox_check [--rounds N])

Measures, in one run and on one machine, the same small CNN and a captioning baseline
checked (a) in a worker process with torch imported and one other model already checked,
(b) through a cold locked-down container, (c) through the warm pool; the hand-off overhead
of a warm container (check wall time minus the in-container check time); and checks per
second with 1 and 2 workers. Prints medians and the ratios to the baseline (a); it asserts
nothing: figures are read, not gated.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from netapi.harness.protocol import job_line
from netapi.tasks import default_spec
from sandbox_runner.config import SandboxSettings
from sandbox_runner.containers import Launcher, docker_client
from sandbox_runner.core import SandboxChecker, load_policy

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = REPO_ROOT / "tests" / "unit" / "netapi" / "corpus"
MODELS = {
    "small CNN": ("01_good_cnn", "img-classification"),
    "captioning baseline": ("06_good_caption_cnn_lstm", "img-captioning"),
}
WARM_UP_MODEL = ("04_good_mlp", "img-classification")
BUDGET = 50_000_000


def source(name: str) -> str:
    return (CORPUS / f"{name}.py").read_text()


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _worker_check(name: str, task: str) -> float:
    """(a) once: a fresh worker imports torch, warms up and checks one other model, then
    the timed check of ``name`` (its first in that process, as in a fresh container)."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench.inprocess_worker"],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # = container quota

    def exchange(candidate: str, candidate_task: str) -> float:
        started = time.perf_counter()
        worker.stdin.write(
            job_line("bench", source(candidate), default_spec(candidate_task), BUDGET)
        )
        worker.stdin.flush()
        result = json.loads(worker.stdout.readline())
        elapsed = time.perf_counter() - started
        if result["outcome"] != "success":
            raise RuntimeError(f"{candidate} failed in process: {result['error']}")
        return elapsed

    try:
        json.loads(worker.stdout.readline())  # ready: torch imported and warm
        exchange(*WARM_UP_MODEL)
        return exchange(name, task)
    finally:
        worker.stdin.close()
        worker.wait(30)


def measure_in_process(rounds: int) -> dict[str, list[float]]:
    """(a): no isolation at all, in a warm worker process of the same thread count."""
    return {
        label: [_worker_check(name, task) for _ in range(rounds)]
        for label, (name, task) in MODELS.items()
    }


async def measure_containers(checker: SandboxChecker, rounds: int, warm: bool):
    """(b) or (c): wall time of full checks; for warm ones also the hand-off overhead."""
    walls: dict[str, list[float]] = {}
    overheads: list[float] = []
    for label, (name, task) in MODELS.items():
        walls[label] = []
        for _ in range(rounds):
            if warm:
                await checker.pool.wait_full(120, "bench")
            result = await checker.check(source(name), default_spec(task), tenant="bench")
            if result.outcome.value != "success" or result.mode != ("warm" if warm else "cold"):
                raise RuntimeError(f"{name}: {result.outcome} {result.mode} {result.error_message}")
            walls[label].append(result.wall_time_ms / 1000)
            overheads.append((result.wall_time_ms - result.durations_ms["total"]) / 1000)
    return walls, overheads


async def measure_throughput(
    settings: SandboxSettings, launcher: Launcher, workers: int, checks: int
) -> float:
    """Checks per second, pool refilling as it goes, ``workers`` containers at once."""
    checker = SandboxChecker(
        settings.model_copy(
            update={
                "pool_size": workers,
                "pool_per_tenant": workers,
                "max_concurrent_checks": workers,
                "per_tenant_concurrency": checks,  # all queued at once, by one tenant
            }
        ),
        launcher,
        load_policy(settings),
    )
    await checker.start()
    try:
        await checker.pool.wait_full(120, "bench")
        name, task = MODELS["small CNN"]
        started = time.perf_counter()
        results = await asyncio.gather(
            *[
                checker.check(source(name), default_spec(task), tenant="bench")
                for _ in range(checks)
            ]
        )
        elapsed = time.perf_counter() - started
        if any(result.outcome.value != "success" for result in results):
            raise RuntimeError("a throughput check failed")
        return checks / elapsed
    finally:
        await checker.close()


async def run(rounds: int, throughput_checks: int) -> None:
    namespace = f"nasforge-bench-{uuid.uuid4().hex[:8]}"
    settings = SandboxSettings(
        namespace=namespace,
        pool_size=0,
        timeout_seconds=60,
        name_index_path=REPO_ROOT / "var" / "torch_index.json",
    )
    launcher = Launcher(docker_client(), namespace, settings.output_cap_bytes)

    baseline = measure_in_process(rounds)
    cold_checker = SandboxChecker(settings, launcher, load_policy(settings))
    await cold_checker.start()
    cold, _ = await measure_containers(cold_checker, rounds, warm=False)
    await cold_checker.close()
    warm_checker = SandboxChecker(
        settings.model_copy(update={"pool_size": 1}), launcher, load_policy(settings)
    )
    await warm_checker.start()
    warm, handoffs = await measure_containers(warm_checker, rounds, warm=True)
    await warm_checker.close()
    one = await measure_throughput(settings, launcher, 1, throughput_checks)
    two = await measure_throughput(settings, launcher, 2, throughput_checks)
    leaked = launcher.leftovers(expired_only=False)
    launcher.reap(expired_only=False)

    print(f"\nsandbox check benchmark: {rounds} rounds per model, medians")
    print(
        f"{'model':<22}{'(a) in-process':>16}{'(b) cold':>12}{'(c) warm':>12}{'b/a':>8}{'c/a':>8}"
    )
    for label in MODELS:
        a, b, c = (median_ms(baseline[label]), median_ms(cold[label]), median_ms(warm[label]))
        print(f"{label:<22}{a:>14.1f}ms{b:>10.1f}ms{c:>10.1f}ms{b / a:>8.2f}{c / a:>8.2f}")
    print(
        f"warm hand-off overhead (check wall time - in-container time): "
        f"median {median_ms(handoffs):.1f} ms"
    )
    print(
        f"throughput, small CNN, warm pool refilling: 1 worker {one:.2f} checks/s, "
        f"2 workers {two:.2f} checks/s (x{two / one:.2f})"
    )
    print(f"containers left in {namespace} after the run: {len(leaked)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--throughput-checks", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.throughput_checks))


if __name__ == "__main__":
    main()
