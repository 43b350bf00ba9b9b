"""A hostile candidate replaces /out/best.pt in its own container: the trainer keeps no such
file, says why on the finished event, and the candidate's score (measured by the trainer's
own code) stays valid."""

import pytest

from netapi.outcomes import Outcome
from tests.integration.trainer.conftest import classification_job, model, run_job
from trainer_svc.weights_store import WeightsNotFound

# Appended to a model that trains honestly: at import (inside the training container) it
# swaps torch.save for one that writes a pickle whose __reduce__ runs a shell command when
# the file is loaded with torch.load(weights_only=False). The harness saves the best epoch
# through torch.save, so /out/best.pt is the payload; the scores are unaffected.
POISONED_SAVE = """

import os

_real_save = torch.save


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))


def _poisoned_save(obj, f, *args, **kwargs):
    _real_save({{"fc.weight": _Payload()}}, f)


torch.save = _poisoned_save
"""


@pytest.mark.timeout(300)
async def test_a_weights_file_the_candidate_poisoned_is_not_kept(trainer, settings, tmp_path):
    marker = tmp_path / "pwned"
    code = model("small_cnn") + POISONED_SAVE.format(marker=marker)
    events = await run_job(trainer, classification_job(code, train_samples=3000))
    finished = events[-1]
    assert finished.outcome is Outcome.SUCCESS, finished.error_message
    assert finished.scores["accuracy"] > 0.5  # trusted scores: the candidate did learn
    assert (finished.weights_path, finished.weights_sha256) == ("", "")
    assert finished.weights_size_bytes == 0
    assert finished.error_type == "WeightsRefused"
    assert "not kept" in finished.error_message and "weights_only" in finished.error_message
    with pytest.raises(WeightsNotFound, match="kept no weights"):
        trainer.weights.find(finished.job_id, tenant="acme")
    assert list(settings.weights_root.glob("*.pt")) == []  # nothing of it on disk either
    assert not marker.exists()  # the trainer never ran the payload while checking it
