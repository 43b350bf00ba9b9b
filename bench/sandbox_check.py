"""Benchmark of a sandbox check: no isolation vs a cold container vs the warm pool, and what
gVisor costs against runc.

    make bench-sandbox        (or: .venv/bin/python -m bench.sandbox_check [--rounds N]
                               [--runtimes runc,runsc])

Measures, in one run and on one machine, the same small CNN and a captioning baseline
checked (a) in a worker process with torch imported and one other model already checked,
(b) through a cold locked-down container, (c) through the warm pool; the hand-off overhead
of a warm container (check wall time minus the in-container check time); checks per second
with 1 and 2 workers; and training throughput (samples/s of the trainer benchmark's small CNN
over the prepared Fashion-MNIST in a training container, epoch 2 of 2). (b), (c), the
throughputs and training run under each container runtime the engine has (runc, and gVisor's
runsc where installed), and the last table gives the ratios runsc/runc. Prints medians; it
asserts nothing: figures are read, not gated.
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from docker.types import Mount

from bench.trainer_throughput import BATCH, LR, MODEL, MOMENTUM, PLAIN_LOOP
from netapi.code_policy import load_policy
from netapi.harness.protocol import job_line
from netapi.tasks import default_spec
from sandbox_runner.config import SandboxSettings
from sandbox_runner.containers import (
    RUNTIMES,
    ContainerSpec,
    Launcher,
    Limits,
    docker_client,
    engine_runtimes,
)
from sandbox_runner.core import SandboxChecker
from trainer_svc.config import TrainerSettings
from trainer_svc.prepare import PreparedData, Sizes, prepare

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = REPO_ROOT / "tests" / "unit" / "netapi" / "corpus"
MODELS = {
    "small CNN": ("01_good_cnn", "img-classification"),
    "captioning baseline": ("06_good_caption_cnn_lstm", "img-captioning"),
}
WARM_UP_MODEL = ("04_good_mlp", "img-classification")
BUDGET = 50_000_000
TRAIN_SAMPLES, TRAIN_EPOCHS = 10_000, 2


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


def training_rate(launcher: Launcher, prepared: PreparedData) -> float:
    """Samples/s of epoch 2 of the trainer benchmark's plain loop in a training container
    (the trainer's limits, the prepared data mounted read-only) under ``launcher``'s runtime."""
    trainer = TrainerSettings()
    limits = Limits(memory_bytes=trainer.memory_bytes, cpus=trainer.cpus, pids=trainer.pids_limit)
    loop = PLAIN_LOOP.format(
        threads=limits.threads, lr=LR, momentum=MOMENTUM, epochs=TRAIN_EPOCHS, batch=BATCH
    )
    container = launcher.start(
        ContainerSpec(
            image=trainer.image,
            role="bench",
            limits=limits,
            lifetime_seconds=3600,
            entrypoint=["python3", "-c", loop],
            mounts=(
                Mount("/data", str(prepared.directory.resolve()), type="bind", read_only=True),
            ),
        )
    )
    try:
        container.send_line(MODEL.read_bytes())
        container._sock.shutdown(socket.SHUT_WR)  # end of the model source on stdin
        rates = []
        for _ in range(TRAIN_EPOCHS):
            line = container.read_line(time.monotonic() + 600)
            if line is None:
                raise RuntimeError(f"training container ended: {container.stderr_tail[-400:]!r}")
            rates.append(json.loads(line)["samples_per_second"])
        return rates[-1]
    finally:
        container.destroy()


async def measure_runtime(
    runtime: str,
    rounds: int,
    throughput_checks: int,
    prepared: PreparedData | None,
) -> dict:
    """(b), (c), hand-off, checks/s and training samples/s under one container runtime."""
    namespace = f"nasforge-bench-{uuid.uuid4().hex[:8]}"
    settings = SandboxSettings(
        namespace=namespace,
        pool_size=0,
        timeout_seconds=60,
        name_index_path=REPO_ROOT / "var" / "torch_index.json",
        runtime=runtime,
    )
    launcher = Launcher(docker_client(), namespace, settings.output_cap_bytes, runtime)
    launcher.resolve_runtime()
    print(f"measuring under {runtime} ...", flush=True)
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
    training = None
    if prepared is not None:
        training = await asyncio.to_thread(training_rate, launcher, prepared)
    leaked = launcher.leftovers(expired_only=False)
    launcher.reap(expired_only=False)
    return {
        "cold": cold,
        "warm": warm,
        "handoffs": handoffs,
        "one": one,
        "two": two,
        "training": training,
        "leaked": len(leaked),
    }


def _prepared() -> PreparedData | None:
    trainer = TrainerSettings(
        data_root=REPO_ROOT / "var", cache_root=REPO_ROOT / "var" / "prepared"
    )
    try:
        return prepare(
            "fashion-mnist",
            "norm",
            Sizes(TRAIN_SAMPLES, 1000, 1000),
            trainer.cache_root,
            trainer.data_root,
        )
    except Exception as exc:  # the check figures are still worth printing without it
        print(f"no training figures: the dataset could not be prepared ({exc}); make test-data")
        return None


def _print_runtime(runtime: str, baseline: dict, figures: dict, rounds: int) -> None:
    print(f"\nsandbox check benchmark under {runtime}: {rounds} rounds per model, medians")
    print(
        f"{'model':<22}{'(a) in-process':>16}{'(b) cold':>12}{'(c) warm':>12}{'b/a':>8}{'c/a':>8}"
    )
    for label in MODELS:
        a = median_ms(baseline[label])
        b, c = median_ms(figures["cold"][label]), median_ms(figures["warm"][label])
        print(f"{label:<22}{a:>14.1f}ms{b:>10.1f}ms{c:>10.1f}ms{b / a:>8.2f}{c / a:>8.2f}")
    print(
        f"warm hand-off overhead (check wall time - in-container time): "
        f"median {median_ms(figures['handoffs']):.1f} ms"
    )
    print(
        f"throughput, small CNN, warm pool refilling: 1 worker {figures['one']:.2f} checks/s, "
        f"2 workers {figures['two']:.2f} checks/s (x{figures['two'] / figures['one']:.2f})"
    )
    if figures["training"] is not None:
        print(
            f"training, small CNN, {TRAIN_SAMPLES} Fashion-MNIST samples, epoch "
            f"{TRAIN_EPOCHS}: {figures['training']:.0f} samples/s"
        )
    print(f"containers left after the run: {figures['leaked']}")


def _print_ratios(runc: dict, runsc: dict) -> None:
    print("\ngVisor's cost: runsc against runc in the same run (medians)")
    print(f"{'':<38}{'runc':>12}{'runsc':>12}{'runsc/runc':>12}")
    rows = []
    for label in MODELS:
        rows.append((f"cold check, {label}", median_ms(runc["cold"][label]),
                     median_ms(runsc["cold"][label]), "ms"))  # fmt: skip
        rows.append((f"warm check, {label}", median_ms(runc["warm"][label]),
                     median_ms(runsc["warm"][label]), "ms"))  # fmt: skip
    rows.append(("warm hand-off overhead", median_ms(runc["handoffs"]),
                 median_ms(runsc["handoffs"]), "ms"))  # fmt: skip
    rows.append(("checks/s, 1 worker", runc["one"], runsc["one"], "/s"))
    rows.append(("checks/s, 2 workers", runc["two"], runsc["two"], "/s"))
    if runc["training"] is not None and runsc["training"] is not None:
        rows.append(("training samples/s", runc["training"], runsc["training"], "/s"))
    for name, a, b, unit in rows:
        print(f"{name:<38}{a:>10.1f}{unit:<2}{b:>10.1f}{unit:<2}{b / a:>12.2f}")


async def run(rounds: int, throughput_checks: int, runtimes: list[str]) -> None:
    listed = engine_runtimes(docker_client())
    available = [r for r in runtimes if listed is None or r in listed]
    for missing in sorted(set(runtimes) - set(available)):
        print(f"runtime {missing} is not one of this engine's: skipped")
    prepared = _prepared()
    baseline = measure_in_process(rounds)
    figures = {
        runtime: await measure_runtime(runtime, rounds, throughput_checks, prepared)
        for runtime in available
    }
    for runtime, measured in figures.items():
        _print_runtime(runtime, baseline, measured, rounds)
    if "runc" in figures and "runsc" in figures:
        _print_ratios(figures["runc"], figures["runsc"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--throughput-checks", type=int, default=6)
    parser.add_argument(
        "--runtimes",
        default=",".join(reversed(RUNTIMES)),
        help="container runtimes to measure, comma-separated (default: runc,runsc)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.throughput_checks, args.runtimes.split(",")))


if __name__ == "__main__":
    main()
