"""Training inside a locked-down container: epochs of the candidate's own learn(), and the
model's predictions, which the trainer scores on the host.

    python -m netapi.harness.training      (one job line on stdin; /data read-only; /out writable)

This process runs the candidate, so nothing it computes is trusted: it holds no labels of
the validation or test images (trainer_svc.prepare keeps them on the host) and it decides no
score. The conversation on the control channel (the original stdin and stdout; the candidate's
own prints go to stderr):

    <- job line
    -> {"epoch": n, "train_loss", "samples_per_second", "wall_time_ms", "predictions": [...]}
    <- {"keep": true|false}        the host's verdict: is this the best epoch so far?
    ... once per epoch ...
    -> {"final": true, "outcome": "success", "predictions": [...]}   test predictions, kept epoch
    or {"final": true, "outcome": <a failure>, "stage", "error"}      the candidate failed
    then it waits, so that the host can copy /out/best.pt (a tmpfs volume) before it ends.

The data arrive prepared by the trainer on the host as one tensor file (torch.load with
weights_only=True: tensors and plain values only), so this image needs torch alone.
"""

import copy
import json
import math
import os
import sys
import time
from collections.abc import Iterator

import torch

from netapi.criteria import MISSING_CRITERIA_MESSAGE, criteria_of, replace_first_loss
from netapi.harness import synthetic
from netapi.harness.failures import CANDIDATE_ERRORS, describe
from netapi.harness.protocol import MAX_JOB_BYTES, parse_job
from netapi.harness.runner import quiet_numpy_warning
from netapi.harness.stages import Check, StageFailed
from netapi.outcomes import Outcome, Stage
from netapi.tasks import EOS, PAD, SOS, TaskSpec

DIVERGENCE_FACTOR = 20.0  # an epoch's mean loss this many times the first batch's: diverged
MAX_GENERATED_TOKENS = 40


class LossRecorder:
    """Records every value a loss of the candidate's criteria returns: called in its place (a
    plain function), or told by a forward hook (a loss module, see `record_first_loss`)."""

    def __init__(self, loss) -> None:
        self._loss = loss
        self.values: list[float] = []

    def record(self, value) -> None:
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            self.values.append(float(value.detach()))

    def hook(self, _module, _inputs, output) -> None:
        self.record(output)

    def __call__(self, *args, **kwargs):
        value = self._loss(*args, **kwargs)
        self.record(value)
        return value

    def __getattr__(self, name):
        return getattr(self._loss, name)


def record_first_loss(model, loss) -> LossRecorder:
    """A recorder of the model's first loss. A loss module stays where the model set it, with
    a forward hook (`self.criteria = nn.CrossEntropyLoss()` registers a submodule, which only
    a module may replace, and the state_dict keeps its keys); a plain function is replaced by
    the recorder, in the shape the model set its criteria (one loss, a tuple or a list)."""
    recorder = LossRecorder(loss)
    if isinstance(loss, torch.nn.Module):
        loss.register_forward_hook(recorder.hook)
    else:
        replace_first_loss(model, recorder)
    return recorder


class Batches:
    """The training data as the candidate's learn() iterates it: normalised, shuffled, flipped."""

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        batch: int,
        mean,
        std,
        flip: bool,
        seed: int,
        device: torch.device,
    ) -> None:
        self.images, self.targets, self.batch = images, targets, batch
        self.mean = torch.tensor(mean).view(1, -1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1)
        self.flip, self.device = flip, device
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() / 255.0 - self.mean) / self.std

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.images), generator=self.generator)
        for start in range(0, len(order), self.batch):
            index = order[start : start + self.batch]
            images = self.normalise(self.images[index])
            if self.flip:
                flips = torch.rand(len(index), generator=self.generator) < 0.5
                images[flips] = images[flips].flip(-1)
            yield images.to(self.device), self.targets[index].to(self.device)


def _chunks(images: torch.Tensor, size: int) -> Iterator[tuple[int, torch.Tensor]]:
    for start in range(0, len(images), size):
        yield start, images[start : start + size]


def classify(model, images, loader: Batches) -> list[int]:
    """The predicted class of every image."""
    model.eval()
    predicted: list[int] = []
    with torch.no_grad():
        for _, chunk in _chunks(images, 256):
            logits = model(loader.normalise(chunk).to(loader.device))
            predicted.extend(int(c) for c in logits.argmax(1).cpu().tolist())
    return predicted


def generate(model, images, loader: Batches) -> list[list[int]]:
    """Greedy captions as token ids, cut at <EOS>, without <SOS>/<PAD>."""
    model.eval()
    captions: list[list[int]] = []
    with torch.no_grad():
        for _, chunk in _chunks(images, 128):
            output = model(loader.normalise(chunk).to(loader.device))
            ids = output[0] if isinstance(output, tuple | list) else output
            for row in ids.cpu().tolist():
                tokens = []
                for token in row[:MAX_GENERATED_TOKENS]:
                    if token == EOS:
                        break
                    if token not in (SOS, PAD):
                        tokens.append(int(token))
                captions.append(tokens)
    return captions


def predict(model, spec: TaskSpec, images, loader: Batches) -> list:
    """What the host scores: class ids, or generated captions as token ids."""
    return (
        generate(model, images, loader) if spec.is_captioning else classify(model, images, loader)
    )


class Channel:
    """The control channel: private copies of stdin and stdout, out of the candidate's way."""

    def __init__(self, incoming, outgoing) -> None:
        self._in, self._out = incoming, outgoing

    def emit(self, **fields) -> None:
        self._out.write(json.dumps(fields) + "\n")
        self._out.flush()

    def job(self) -> dict:
        return parse_job(self._in.readline(MAX_JOB_BYTES + 1).encode())

    def wait_for_end(self) -> None:
        self._in.readline(4096)

    def keep(self) -> bool:
        """The host's answer to an epoch: whether its weights are the best so far."""
        reply = json.loads(self._in.readline(4096) or "{}")
        return bool(reply.get("keep"))


def train(job: dict, channel: Channel) -> None:
    """Run the whole job; every ending is emitted as a final line."""
    emit = channel.emit
    spec: TaskSpec = job["spec"]
    device = torch.device(job.get("device", "cpu"))
    torch.manual_seed(int(job["seed"]))
    data = torch.load(job["data_path"], weights_only=True)
    images, targets = data["images"], data["targets"]
    check = Check(job["code"], spec, int(job.get("parameter_budget", 10**9)), device)
    net_class, declared = check.read_api(check.import_module())
    model = check.instantiate(net_class, declared)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    prm = synthetic.prm_for(spec, declared)
    try:
        model.train_setup(prm)
        losses = criteria_of(model)
        recorder = record_first_loss(model, losses[0]) if losses else None
    except CANDIDATE_ERRORS as error:
        failure = describe(error, check.namespace, check.lines)
        raise StageFailed(failure.outcome, Stage.TRAIN, failure.message, failure.type) from None
    if recorder is None:
        raise StageFailed(
            Outcome.API_NONCOMPLIANCE,
            Stage.TRAIN,
            MISSING_CRITERIA_MESSAGE,
        )
    loader = Batches(
        images["train"],
        targets["train"],
        spec.in_shape[0],
        data["mean"],
        data["std"],
        bool(data.get("flip", False)),
        int(job["seed"]),
        device,
    )
    best_state, first_loss = None, None
    for epoch in range(1, int(job["epochs"]) + 1):
        prm["epoch"] = epoch
        recorder.values.clear()
        model.train()
        started = time.perf_counter()
        try:
            if device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    model.learn(loader)
            else:
                model.learn(loader)
        except CANDIDATE_ERRORS as error:
            failure = describe(error, check.namespace, check.lines)
            emit(
                final=True,
                outcome=failure.outcome.value,
                stage=Stage.TRAIN.value,
                error={"type": failure.type, "message": failure.message},
            )
            return
        elapsed = time.perf_counter() - started
        losses = recorder.values
        mean_loss = sum(losses) / len(losses) if losses else float("nan")
        if first_loss is None and losses:
            first_loss = losses[0]  # the untrained model's loss on its first batch
        if (
            not losses
            or not math.isfinite(mean_loss)
            or mean_loss > DIVERGENCE_FACTOR * max(first_loss, 1e-3)
        ):
            why = "no loss was computed" if not losses else f"mean loss {mean_loss:.4g}"
            emit(
                final=True,
                outcome=Outcome.TRAINING_FAILURE.value,
                stage=Stage.TRAIN.value,
                error={
                    "type": "Divergence",
                    "message": f"epoch {epoch}: {why}; the first batch's loss was {first_loss}",
                },
            )
            return
        emit(
            epoch=epoch,
            train_loss=mean_loss,
            samples_per_second=len(images["train"]) / elapsed,
            wall_time_ms=elapsed * 1000,
            predictions=predict(model, spec, images["val"], loader),
        )
        if channel.keep() or best_state is None:
            best_state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
    model.load_state_dict(best_state)
    torch.save(best_state, os.path.join(job.get("out_dir", "/out"), "best.pt"))
    emit(
        final=True,
        outcome=Outcome.SUCCESS.value,
        predictions=predict(model, spec, images["test"], loader),
    )


def main() -> int:
    quiet_numpy_warning()
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(max(1, threads))
    channel = Channel(
        os.fdopen(os.dup(0), "r", encoding="utf-8"), os.fdopen(os.dup(1), "w", encoding="utf-8")
    )
    channel.emit(ready=True, torch=torch.__version__)
    job = channel.job()
    # The candidate's prints go to stderr and its reads find nothing: the control channel
    # lives on the private copies alone.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    sys.stdin = open(os.devnull, encoding="utf-8")
    try:
        train(job, channel)
    except StageFailed as failure:
        channel.emit(
            final=True,
            outcome=failure.outcome.value,
            stage=failure.stage.value,
            error={"type": failure.error_type, "message": failure.message},
        )
    # /out is a size-capped tmpfs that vanishes with the container: stay until the host has
    # copied the weights and ends the container (or closes stdin).
    channel.wait_for_end()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
