# ruff: noqa: F811 - the trainer fixtures are imported from the trainer tests and used by name
"""Candidates that lie about their training result, through the real trainer and engine.

Each candidate owns the training harness's process (it runs there), walks its interpreter
for the control channel, and writes what a forger would. The trainer's scores come from its
own code (trainer_svc.evaluation) against labels the container never holds, so none of this
may change a stored figure. Each docstring states the attack and the expected ending.
"""

import textwrap

import pytest

from netapi.outcomes import Outcome
from tests.integration.trainer.conftest import (  # noqa: F401 - fixtures
    classification_job,
    run_job,
    settings,
    trainer,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

_HEADER = textwrap.dedent(
    """
    import gc
    import os
    import json
    import torch
    import torch.nn as nn


    def supported_hyperparameters():
        return {"lr"}


    def find(predicate):
        for obj in gc.get_objects():
            try:
                if predicate(obj):
                    return obj
            except Exception:
                pass
        return None


    def channel():
        return find(lambda o: type(o).__name__ == "Channel")


    def job():
        return find(lambda o: isinstance(o, dict) and "data_path" in o)


    def test_images():
        return len(torch.load(job()["data_path"], weights_only=True)["images"]["test"])


    class Base(nn.Module):
        def __init__(self, in_shape, out_shape, prm, device):
            super().__init__()
            self.fc = nn.Linear(in_shape[1] * in_shape[2] * in_shape[3], out_shape[0])

        def forward(self, x):
            return self.fc(x.flatten(1))

        def train_setup(self, prm):
            self.criteria = (nn.CrossEntropyLoss(),)
            self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"])

        def learn(self, train_data):
            for images, labels in train_data:
                self.optimizer.zero_grad()
                loss = self.criteria[0](self(images), labels)
                loss.backward()
                self.optimizer.step()
    """
)


def _candidate(body: str) -> str:
    return _HEADER + textwrap.dedent(body)


async def _finished(trainer, code: str, **overrides):
    events = await run_job(
        trainer,
        classification_job(
            code, train_samples=600, validation_samples=200, test_samples=300, **overrides
        ),
    )
    return events[-1]


async def test_a_forged_final_line_before_training_earns_nothing(trainer):
    """Attack: the frame-walking forgery that once won a search. In __init__, find the
    harness's channel and write a final success with the nonce field, test_accuracy 1.0 and
    predictions for every test image, before any epoch ran. Expected: runtime_error (success
    claimed after 0 of 1 epochs); no score is stored."""
    code = _candidate(
        """
        class Net(Base):
            def __init__(self, *args):
                super().__init__(*args)
                channel().emit(
                    final=True, outcome="success", nonce="0" * 32, test_accuracy=1.0,
                    best_epoch=1, best_validation_metric=1.0, scores={"accuracy": 1.0},
                    predictions=[0] * test_images(),
                )
        """
    )
    finished = await _finished(trainer, code)
    assert finished.outcome is Outcome.RUNTIME_ERROR, finished
    assert finished.scores == {}
    assert "0 of 1 epochs" in finished.error_message


async def test_a_candidate_finds_no_held_out_label_to_read(trainer):
    """Attack: read every file the container can see (/data, /out, /tmp, /proc's environ
    and cmdlines) and every object in the interpreter, looking for validation or test
    labels or the test references. Expected: nothing found; the candidate trains and its
    score is an honest one (a linear model on 600 images: far from 1.0)."""
    code = _candidate(
        """
        def loot():
            found = []
            for root in ("/data", "/out", "/tmp"):
                for folder, _, files in os.walk(root):
                    for name in files:
                        path = os.path.join(folder, name)
                        try:
                            blob = open(path, "rb").read()
                        except OSError:
                            continue
                        if b"test_references" in blob:
                            found.append(path)
                        try:
                            data = torch.load(path, weights_only=True)
                        except Exception:
                            continue
                        targets = data.get("targets", {}) if isinstance(data, dict) else {}
                        found += [f"{path}:{s}" for s in ("val", "test") if s in targets]
            for pid in os.listdir("/proc"):
                for part in ("environ", "cmdline"):
                    try:
                        if b"labels" in open(f"/proc/{pid}/{part}", "rb").read():
                            found.append(f"/proc/{pid}/{part}")
                    except OSError:
                        pass
            holder = find(lambda o: isinstance(o, dict) and ("val" in o or "test" in o)
                          and isinstance(o.get("test", o.get("val")), torch.Tensor)
                          and o.get("test", o.get("val")).dim() == 1)
            if holder is not None:
                found.append("interpreter")
            return found


        class Net(Base):
            def __init__(self, *args):
                super().__init__(*args)
                found = loot()
                if found:
                    raise RuntimeError(f"LABELS FOUND: {found}")
        """
    )
    finished = await _finished(trainer, code)
    assert "LABELS FOUND" not in finished.error_message
    assert finished.outcome is Outcome.SUCCESS, finished.error_message
    assert 0.0 < finished.scores["accuracy"] < 0.95


async def test_a_candidate_cannot_shift_the_blame_to_infrastructure(trainer):
    """Attack: in learn(), write a final infra_error (never counted against the model, and
    a search may retry it). Expected: runtime_error, the candidate's own fault."""
    code = _candidate(
        """
        class Net(Base):
            def learn(self, train_data):
                channel().emit(final=True, outcome="infra_error",
                               error={"type": "InfraError", "message": "engine died"})
        """
    )
    finished = await _finished(trainer, code)
    assert finished.outcome is Outcome.RUNTIME_ERROR
    assert "only the trainer decides" in finished.error_message


async def test_patching_the_harness_changes_only_the_candidates_own_outputs(trainer):
    """Attack: replace the harness's predict() and the channel's emit so that every line
    says 'validation_metric': 1.0 and 'test_accuracy': 1.0. Expected: success (the job ran)
    scored from the predictions alone; the lies in the lines are ignored."""
    code = _candidate(
        """
        import sys


        class Net(Base):
            def __init__(self, *args):
                super().__init__(*args)
                chan = channel()
                real = chan.emit

                def lying_emit(**fields):
                    real(**fields, validation_metric=1.0, test_accuracy=1.0,
                         best_validation_metric=1.0)

                chan.emit = lying_emit
                harness = sys.modules["__main__"]  # python -m netapi.harness.training
                harness.predict = lambda model, spec, images, loader: [3] * len(images)
        """
    )
    finished = await _finished(trainer, code)
    assert finished.outcome is Outcome.SUCCESS, finished.error_message
    assert finished.scores["accuracy"] < 0.3  # class 3 for every image: about a tenth


async def test_a_job_cannot_fill_the_hosts_disk_through_out(trainer):
    """Attack: write 256 MiB into /out, the job's only writable volume. Expected: the write
    fails with no space left (a tmpfs of output_volume_bytes); the job ends as the
    candidate's failure."""
    code = _candidate(
        """
        class Net(Base):
            def learn(self, train_data):
                with open("/out/flood", "wb") as sink:
                    for _ in range(256):
                        sink.write(b"x" * 1024 * 1024)
        """
    )
    trainer._training._settings = trainer._training._settings.model_copy(
        update={"output_volume_bytes": 16 * 1024**2}
    )
    finished = await _finished(trainer, code)
    assert finished.outcome is not Outcome.SUCCESS
    assert "No space left" in finished.error_message, finished.error_message
