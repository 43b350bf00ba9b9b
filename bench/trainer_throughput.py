"""Benchmark of training throughput: the trainer vs a plain hand-written PyTorch loop.

    make bench-trainer        (or: .venv/bin/python -m bench.trainer_throughput)

Both run the same model (tests/integration/trainer/models/small_cnn.py) on the same
prepared Fashion-MNIST tensors, in the same runtime image with the same container limits,
so the ratio is the trainer's own overhead (its loader, loss recording, validation). Prints
median samples per second over epochs 2..N and the ratio; asserts nothing.
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from pathlib import Path

from docker.types import Mount

from netapi.tasks import TaskSpec
from sandbox_runner.containers import ContainerSpec, Limits
from trainer_svc.__main__ import build_trainer
from trainer_svc.config import TrainerSettings
from trainer_svc.events import EpochDone, Finished, TrainJob
from trainer_svc.prepare import Sizes, prepare

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL = REPO_ROOT / "tests" / "integration" / "trainer" / "models" / "small_cnn.py"
BATCH, LR, MOMENTUM = 64, 0.05, 0.9

# The plain loop: what a person would write by hand for the same model and data.
PLAIN_LOOP = """
import json, sys, time, types, torch
data = torch.load('/data/data.pt', weights_only=True)
images, labels = data['images']['train'], data['targets']['train']
mean = torch.tensor(data['mean']).view(1, -1, 1, 1)
std = torch.tensor(data['std']).view(1, -1, 1, 1)
module = types.ModuleType('m'); exec(sys.stdin.read(), module.__dict__)
torch.manual_seed(0); torch.set_num_threads({threads})
net = module.Net((64, *images.shape[1:]), (10,), {{}}, torch.device('cpu'))
optimizer = torch.optim.SGD(net.parameters(), lr={lr}, momentum={momentum})
loss_fn = torch.nn.CrossEntropyLoss()
for epoch in range({epochs}):
    started = time.perf_counter(); net.train()
    order = torch.randperm(len(images))
    for i in range(0, len(order), {batch}):
        index = order[i:i + {batch}]
        x = (images[index].float() / 255 - mean) / std
        optimizer.zero_grad(); loss = loss_fn(net(x), labels[index]); loss.backward()
        optimizer.step()
    print(json.dumps({{'samples_per_second': len(images) / (time.perf_counter() - started)}}),
          flush=True)
"""


def plain_loop(trainer, prepared, epochs: int, limits: Limits) -> list[float]:
    training = trainer._training
    spec = ContainerSpec(
        image=training._settings.image,
        role="bench",
        limits=limits,
        lifetime_seconds=3600,
        entrypoint=[
            "python3",
            "-c",
            PLAIN_LOOP.format(
                threads=limits.threads, lr=LR, momentum=MOMENTUM, epochs=epochs, batch=BATCH
            ),
        ],
        mounts=(Mount("/data", str(prepared.directory.resolve()), type="bind", read_only=True),),
    )
    container = training._launcher.start(spec)
    try:
        container.send_line(MODEL.read_bytes())
        container._sock.shutdown(1)  # end of the model source on stdin
        rates = []
        for _ in range(epochs):
            line = container.read_line(time.monotonic() + 600)
            rates.append(json.loads(line)["samples_per_second"])
        return rates
    finally:
        container.destroy()


async def run(epochs: int, samples: int) -> None:
    settings = TrainerSettings(
        namespace=f"nasforge-bench-{uuid.uuid4().hex[:8]}",
        data_root=REPO_ROOT / "var",
        cache_root=REPO_ROOT / "var" / "prepared",
        weights_root=Path("/tmp/nasforge-bench-weights"),
    )
    trainer = build_trainer(settings, ping=True)
    prepared = prepare(
        "fashion-mnist", "norm", Sizes(samples, 1000, 1000), settings.cache_root, settings.data_root
    )
    spec = TaskSpec(
        "img-classification",
        "fashion-mnist",
        (BATCH, *prepared.in_shape),
        (10,),
        {"lr": LR, "momentum": MOMENTUM},
        "norm",
    )
    job = TrainJob(MODEL.read_text(), spec, epochs, 1, 600, 3600, samples, 1000, 1000)
    trainer_rates, finished = [], None
    async for event in trainer.train(job, tenant="bench"):
        if isinstance(event, EpochDone):
            trainer_rates.append(event.samples_per_second)
        elif isinstance(event, Finished):
            finished = event
    if finished is None or finished.outcome.value != "success":
        raise RuntimeError(f"trainer run failed: {finished}")
    limits = Limits(
        memory_bytes=settings.memory_bytes, cpus=settings.cpus, pids=settings.pids_limit
    )
    plain_rates = await asyncio.to_thread(plain_loop, trainer, prepared, epochs, limits)
    ours, plain = statistics.median(trainer_rates[1:]), statistics.median(plain_rates[1:])
    print(
        f"\ntrainer throughput, small CNN on Fashion-MNIST ({samples} samples, batch {BATCH}, "
        f"{settings.cpus:g} CPUs, median of epochs 2..{epochs})"
    )
    print(f"  plain hand-written loop: {plain:8.0f} samples/s")
    print(f"  nasforge trainer:        {ours:8.0f} samples/s   ratio {ours / plain:.2f}")
    print(f"  (trainer test accuracy {finished.scores['accuracy']:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(run(args.epochs, args.samples))


if __name__ == "__main__":
    main()
