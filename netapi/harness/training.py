"""Training inside a locked-down container: epochs of the candidate's own learn(), validation,
the best epoch's weights, and per-epoch JSON lines on the result channel.

    python -m netapi.harness.training      (one job line on stdin; /data read-only; /out writable)

The data arrive prepared by the trainer on the host as one tensor file (torch.load with
weights_only=True: tensors and plain values only), so this image needs torch alone.
"""

import copy
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator

import torch

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
    """Wraps a loss callable of the candidate's criteria, recording every value it returns."""

    def __init__(self, loss) -> None:
        self._loss = loss
        self.values: list[float] = []

    def __call__(self, *args, **kwargs):
        value = self._loss(*args, **kwargs)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            self.values.append(float(value.detach()))
        return value

    def __getattr__(self, name):
        return getattr(self._loss, name)


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


def evaluate_accuracy(model, images, labels, loader: Batches) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start, chunk in _chunks(images, 256):
            logits = model(loader.normalise(chunk).to(loader.device))
            correct += int((logits.argmax(1).cpu() == labels[start : start + len(chunk)]).sum())
    return correct / max(1, len(images))


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


def corpus_bleu4(hypotheses: list[list[int]], references: list[list[list[int]]]) -> float:
    """Corpus BLEU-4 (Papineni et al.) on token ids: selects the best epoch, no smoothing."""
    matches, totals = [0] * 4, [0] * 4
    hyp_length = ref_length = 0
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        hyp_length += len(hypothesis)
        ref_length += min((abs(len(r) - len(hypothesis)), len(r)) for r in refs)[1]
        for n in range(1, 5):
            grams = Counter(tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1))
            best: Counter = Counter()
            for ref in refs:
                best |= Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum(min(count, best[gram]) for gram, count in grams.items())
            totals[n - 1] += max(0, len(hypothesis) - n + 1)
    if min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / 4
    brevity = 1.0 if hyp_length > ref_length else math.exp(1 - ref_length / max(hyp_length, 1))
    return brevity * math.exp(log_precision)


def references_of(captions: torch.Tensor) -> list[list[list[int]]]:
    """[N, Ncaps, T] padded ids -> per image, the reference token lists without specials."""
    result = []
    for image_captions in captions.tolist():
        refs = [[t for t in caption if t not in (SOS, EOS, PAD)] for caption in image_captions]
        result.append([ref for ref in refs if ref] or [[]])
    return result


class Emitter:
    """Writes result lines to the private copy of stdout."""

    def __init__(self, stream, nonce: str) -> None:
        self._stream, self._nonce = stream, nonce

    def __call__(self, **fields) -> None:
        self._stream.write(json.dumps({"nonce": self._nonce, **fields}) + "\n")
        self._stream.flush()


def train(job: dict, emit: Emitter) -> None:
    """Run the whole job; every ending is emitted as a final line."""
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
    except CANDIDATE_ERRORS as error:
        failure = describe(error, check.namespace, check.lines)
        raise StageFailed(failure.outcome, Stage.TRAIN, failure.message, failure.type) from None
    recorder = LossRecorder(model.criteria[0])
    model.criteria = (recorder, *tuple(model.criteria)[1:])
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
    best_metric, best_epoch, best_state, first_loss = -1.0, 0, None, None
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
                best_epoch=best_epoch,
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
                best_epoch=best_epoch,
                error={
                    "type": "Divergence",
                    "message": f"epoch {epoch}: {why}; the first batch's loss was {first_loss}",
                },
            )
            return
        if spec.is_captioning:
            metric = corpus_bleu4(
                generate(model, images["val"], loader), references_of(targets["val"])
            )
        else:
            metric = evaluate_accuracy(model, images["val"], targets["val"], loader)
        if metric > best_metric:
            best_metric, best_epoch = metric, epoch
            best_state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
        emit(
            epoch=epoch,
            train_loss=mean_loss,
            validation_metric=metric,
            samples_per_second=len(images["train"]) / elapsed,
            wall_time_ms=elapsed * 1000,
        )
    model.load_state_dict(best_state)
    torch.save(best_state, os.path.join(job.get("out_dir", "/out"), "best.pt"))
    final = {
        "final": True,
        "outcome": Outcome.SUCCESS.value,
        "best_epoch": best_epoch,
        "best_validation_metric": best_metric,
    }
    if spec.is_captioning:
        final["test_generated"] = generate(model, images["test"], loader)
    else:
        final["test_accuracy"] = evaluate_accuracy(model, images["test"], targets["test"], loader)
    emit(**final)


def main() -> int:
    quiet_numpy_warning()
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(max(1, threads))
    result_stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    result_stream.write(json.dumps({"ready": True, "torch": torch.__version__}) + "\n")
    result_stream.flush()
    job = parse_job(sys.stdin.buffer.readline(MAX_JOB_BYTES + 1))
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    emit = Emitter(result_stream, job["nonce"])
    try:
        train(job, emit)
    except StageFailed as failure:
        emit(
            final=True,
            outcome=failure.outcome.value,
            stage=failure.stage.value,
            best_epoch=0,
            error={"type": failure.error_type, "message": failure.message},
        )
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
