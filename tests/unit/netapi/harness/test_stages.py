"""netapi.harness.stages in this process: legitimate models that the harness once refused."""

import pathlib

from netapi.harness.runner import run_job
from netapi.tasks import default_spec
from tests.unit.netapi import lemur_style

GOOD = (pathlib.Path(__file__).parents[1] / "corpus" / "01_good_cnn.py").read_text()


def check(code: str) -> dict:
    job = {
        "code": code,
        "spec": default_spec("img-classification"),
        "parameter_budget": 10**8,
        "nonce": "test",
    }
    return run_job(job)


def test_the_good_cnn_passes_and_its_flops_are_counted():
    result = check(GOOD)
    assert (result["outcome"], result["error"]) == ("success", None)
    assert result["flops"] > 0


def test_dataclass_under_postponed_annotations_imports():
    """dataclasses resolves string annotations through sys.modules[cls.__module__]."""
    code = (
        "from __future__ import annotations\nfrom dataclasses import dataclass, field\n"
        + GOOD
        + "\n\n@dataclass(frozen=True)\nclass Config:\n    width: int = 32\n"
        "    kinds: list[str] = field(default_factory=list)\n    gate: ClassVar[int] = 0\n"
    ).replace("import torch\n", "import torch\nfrom typing import ClassVar\n", 1)
    result = check(code)
    assert (result["outcome"], result["error"]) == ("success", None)


def test_attention_on_an_expanded_parameter_is_counted():
    """A learned query expanded to the batch: a view made under no_grad that requires grad,
    which torch's per-module flop attribution (ModuleTracker) cannot hook."""
    code = GOOD.replace(
        "self.fc = nn.Linear(128, num_classes)",
        "self.fc = nn.Linear(128, num_classes)\n"
        "        self.query = nn.Parameter(torch.zeros(1, 1, 128))\n"
        "        self.attn = nn.MultiheadAttention(128, 4, batch_first=True)",
    ).replace(
        "        x = self.gap(x).flatten(1)\n        return self.fc(x)",
        "        x = x.flatten(2).transpose(1, 2)  # [B, HW, 128]\n"
        "        q = self.query.expand(x.shape[0], -1, -1)  # [B, 1, 128]\n"
        "        x, _ = self.attn(q, x, x)\n"
        "        return self.fc(x[:, 0])",
    )
    assert "self.attn(q, x, x)" in code
    result = check(code)
    assert (result["outcome"], result["error"]) == ("success", None)
    assert result["flops"] > check(GOOD)["flops"]


def test_the_corpus_model_with_numbered_layers_dataclass_and_attention_passes():
    """The static checker's good corpus file 64 also passes every run-time stage."""
    corpus = pathlib.Path(__file__).parents[1] / "corpus"
    code = (corpus / "64_good_numbered_layers_dataclass_attention.py").read_text()
    result = check(code)
    assert (result["outcome"], result["error"]) == ("success", None)


def test_one_loss_as_criteria_passes_the_learn_stage():
    """LEMUR trains `self.criteria = nn.CrossEntropyLoss()`; it counts as a one-element tuple."""
    result = check(lemur_style.SINGLE_LOSS)
    assert (result["outcome"], result["error"], result["warnings"]) == ("success", None, [])


def test_criterion_passes_the_learn_stage_with_a_warning():
    result = check(lemur_style.CRITERION)
    assert (result["outcome"], result["error"]) == ("success", None)
    [warning] = result["warnings"]
    assert warning["rule"] == "criterion-for-criteria" and warning["stage"] == "learn"
    assert warning["severity"] == "warning" and "outcome" not in warning


def test_a_model_with_no_losses_still_fails_the_learn_stage():
    result = check(lemur_style.NO_CRITERIA)
    assert (result["outcome"], result["stage"]) == ("api_noncompliance", "learn")
    assert "self.criteria" in result["error"]["message"]


def test_a_captioner_with_one_loss_and_bare_logits_passes():
    """Teacher forcing that returns bare logits instead of (logits, hidden): LEMUR's too."""
    corpus = pathlib.Path(__file__).parents[1] / "corpus"
    code = (corpus / "66_good_caption_single_loss_bare_logits.py").read_text()
    result = run_job(
        {
            "code": code,
            "spec": default_spec("img-captioning"),
            "parameter_budget": 10**8,
            "nonce": "test",
        }
    )
    assert (result["outcome"], result["error"], result["warnings"]) == ("success", None, [])
