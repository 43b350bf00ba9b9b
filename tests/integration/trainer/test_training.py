"""Training in real containers on real data: learning, divergence, budgets, cancel, queue."""

import asyncio
import time

import pytest
import torch

from netapi.outcomes import Outcome
from netapi.tasks import TaskSpec
from rpc.errors import QuotaExceeded
from tests.integration.trainer.conftest import classification_job, model, run_job
from trainer_svc.events import Accepted, EpochDone, Finished, TrainJob


async def test_small_cnn_learns_fashion_mnist(trainer):
    """A small CNN reaches at least 80% test accuracy on Fashion-MNIST in 2 CPU epochs."""
    events = await run_job(trainer, classification_job(model("small_cnn"), epochs=2))
    assert isinstance(events[0], Accepted) and events[0].seed == 7
    epochs = [e for e in events if isinstance(e, EpochDone)]
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    assert finished.outcome is Outcome.SUCCESS, finished.error_message
    assert [e.epoch for e in epochs] == [1, 2]
    assert all(e.samples_per_second > 0 and e.train_loss > 0 for e in epochs)
    assert finished.best_epoch in (1, 2)
    assert finished.scores["accuracy"] >= 0.80
    weights = torch.load(finished.weights_path, weights_only=True)
    assert "fc.weight" in weights


async def test_diverging_model_is_a_training_failure(trainer):
    """Logits scaled up tenfold at every step: the loss explodes -> training_failure."""
    code = (
        model("small_cnn")
        .replace(
            "        self.fc = nn.Linear(",
            "        self.scale = 1.0\n        self.fc = nn.Linear(",
            1,
        )
        .replace(
            "            self.optimizer.step()\n",
            "            self.optimizer.step()\n            self.scale *= 10.0\n",
            1,
        )
        .replace(
            "return self.fc(torch.flatten(self.features(x), 1))",
            "return self.fc(torch.flatten(self.features(x), 1)) * self.scale",
            1,
        )
    )
    assert code.count("self.scale") == 3
    finished = (await run_job(trainer, classification_job(code, epochs=3)))[-1]
    assert finished.outcome is Outcome.TRAINING_FAILURE, finished.error_message
    assert "loss" in finished.error_message


async def test_candidate_hanging_in_learn_is_killed_at_its_budget(trainer):
    """learn() never returns: the epoch budget (4 s) kills the container."""
    code = model("small_cnn").replace(
        "        self.train()\n", "        self.train()\n        while True:\n            pass\n", 1
    )
    started = time.monotonic()
    finished = (await run_job(trainer, classification_job(code, epoch_budget_seconds=4)))[-1]
    assert finished.outcome is Outcome.TIMEOUT
    assert "epoch ran past its time budget" in finished.error_message
    assert time.monotonic() - started < 40


async def test_cancel_stops_a_running_job(trainer):
    """Cancelled after it was accepted: the stream ends with cancelled, the container goes."""
    code = model("small_cnn").replace(
        "        self.train()\n", "        self.train()\n        while True:\n            pass\n", 1
    )
    stream = trainer.train(classification_job(code), tenant="acme")
    accepted = await anext(stream)
    await asyncio.sleep(3)
    assert await trainer.cancel(accepted.job_id)
    rest = [event async for event in stream]
    assert rest[-1].outcome is Outcome.CANCELLED
    assert not await trainer.cancel(accepted.job_id)  # gone once finished


async def test_full_queue_is_resource_exhausted(trainer):
    """One job running and no queue (max_queued_jobs=0): the next is refused at once."""
    code = model("small_cnn").replace(
        "        self.train()\n", "        self.train()\n        while True:\n            pass\n", 1
    )
    first = trainer.train(classification_job(code, epoch_budget_seconds=30), tenant="acme")
    accepted = await anext(first)
    with pytest.raises(QuotaExceeded, match="queue is full"):
        await anext(trainer.train(classification_job(code), tenant="acme"))
    await trainer.cancel(accepted.job_id)
    assert [event async for event in first][-1].outcome is Outcome.CANCELLED


async def test_broken_candidate_fails_before_training(trainer):
    code = model("small_cnn").replace("nn.Linear(32 * 16", "nn.Linear(32 * 15")
    finished = (await run_job(trainer, classification_job(code)))[-1]
    assert finished.outcome is Outcome.SHAPE_MISMATCH
    assert "fc" in finished.error_message


@pytest.mark.timeout(300)  # preparing the caption grids takes a minute on a fresh cache
async def test_captioning_baseline_beats_the_image_blind_caption(trainer):
    """ResNet-style encoder + LSTM on the built Fashion-MNIST caption grids: BLEU-4 at least
    1.5x that of the most frequent training caption, by both implementations."""
    spec = TaskSpec(
        "img-captioning", "fashion-captions", (32, 3, 56, 56), (100,), {"lr": 0.2}, "norm"
    )
    job = TrainJob(
        model("resnet_lstm_captioner"),
        spec,
        epochs=3,
        seed=3,
        epoch_budget_seconds=300,
        job_budget_seconds=900,
        train_samples=2000,
        validation_samples=100,
        test_samples=200,
    )
    finished = (await run_job(trainer, job))[-1]
    assert finished.outcome is Outcome.SUCCESS, finished.error_message
    scores = finished.scores
    assert scores["bleu4_corpus"] >= 1.5 * scores["bleu4_constant_baseline"]
    assert scores["bleu4_sentence"] >= 1.5 * scores["bleu4_sentence_constant_baseline"]
    assert 0.1 < scores["bleu4_constant_baseline"] < 0.6  # the trap is real, and measured
