"""The generation levers in the engine, with scripted answers on a real zoo parent: edit
answers merged into the parent, deterministic fixes recorded, near copies ended as
duplicates, unchanged repairs asked again hotter, ideas whose parameters get no gradient
recorded as not applied, and the feedback memory carried into the next prompt."""

import random

import pytest

from netapi.outcomes import Outcome, Stage
from netapi.static_check import check_source
from search_core.convert import candidate_to_pb
from search_core.domain import Generator
from search_core.engine.proposals import Proposal
from search_core.generation.memory import feedback_memory
from search_core.search_config import parse_config
from search_core.services import CheckVerdict, PromptRequest
from search_core.store import open_store
from search_core.zoo.registry import builtin_models
from tests.unit.search_core.engine.scripted import ScriptedServices
from tests.unit.search_core.engine.test_engine import _engine, _finish

VGG = next(m.code for m in builtin_models() if m.name == "VGG")

SE_EDIT = """```python
class SqueezeExcite(nn.Module):
    def __init__(self, channels, reduction=8):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x):
        w = x.mean(dim=(2, 3))
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(w))))
        return x * w[:, :, None, None]


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels = in_shape[1]
        layers = []
        for item in CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
                channels = item
        self.features = nn.Sequential(*layers)
        self.se = SqueezeExcite(channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Dropout(prm["dropout"]), nn.Linear(channels, out_shape[0]))

    def forward(self, x):
        x = self.pool(self.se(self.features(x)))
        return self.head(torch.flatten(x, 1))
```""".removeprefix("```python\n").removesuffix("\n```")


class IdeaMethod:
    """Every slot applies an idea to the zoo's VGG, as FairNAD's edit mode does."""

    def __init__(self, config) -> None:
        self._config = config

    def propose(self, slot, rng: random.Random, history):
        generation = self._config.generation
        memory = feedback_memory(history, generation.memory_window, generation.memory_chars)
        return Proposal(
            prefix="Test-LLM",
            generator=Generator.LLM,
            prompt=PromptRequest("fairnad_apply_idea_edit", {"parent_code": VGG, "memory": memory}),
            parent="VGG",
            parent_code=VGG,
            mutation="fair_idea",
            idea={"category": "attention", "attribute": "squeeze-and-excitation"},
            edit=True,
            memory=memory,
        )


def _config(candidates=1, **generation):
    return parse_config(
        {
            "method": "fairnad",
            "generator": "llm",
            "max_candidates": candidates,
            "repair_attempts": 2,
            "training": {"epochs": 0},
            "generation": generation,
        }
    )


@pytest.fixture
def store(tmp_path):
    instance = open_store(str(tmp_path / "store.db"))
    yield instance
    instance.close()


async def _search(store, services, config):
    engine = _engine(store, services, IdeaMethod(config))
    search = await engine.submit("acme", config)
    await _finish(engine, "acme", search.search_id)
    return store.search_candidates(search.search_id)


async def test_an_edit_answer_is_merged_into_its_parent_and_checked_whole(store):
    services = ScriptedServices()
    services.answers = [SE_EDIT]
    checked = []
    services.verdict = lambda code: checked.append(code) or CheckVerdict(Outcome.SUCCESS)
    (candidate,) = await _search(store, services, _config())
    assert candidate.outcome is Outcome.SUCCESS
    (code,) = checked
    assert "def supported_hyperparameters" in code and "def learn" in code  # from the parent
    assert "class SqueezeExcite" in code and code == candidate.code
    assert candidate.generation["mode"] == "edit"
    assert candidate.generation["merge"]["added"] == ["SqueezeExcite"]
    assert candidate.idea_applied is True and candidate.fixes == []


async def test_fixes_are_applied_before_the_check_and_recorded(store):
    services = ScriptedServices()
    # A whole-module answer that reads prm['weight_decay'] without declaring it and forgets F.
    answer = VGG.replace(
        'momentum=prm["momentum"])',
        'momentum=prm["momentum"], weight_decay=prm["weight_decay"])',
    ).replace(
        "return self.classifier(torch.flatten(x, 1))",
        "return F.log_softmax(self.classifier(torch.flatten(x, 1)), 1)",
    )
    services.answers = [answer]
    (candidate,) = await _search(store, services, _config(near_copy_threshold=1.0))
    assert candidate.outcome is Outcome.SUCCESS, candidate.error_message
    rules = {fix["rule"] for fix in candidate.fixes}
    assert rules == {"undeclared-hyperparameter", "missing-import"}
    assert "weight_decay" in candidate.hyperparameters
    message = candidate_to_pb(candidate)
    assert {fix.rule for fix in message.fixes} == rules and message.generation_mode == "edit"


async def test_without_fixes_the_same_answer_fails_the_check(store):
    services = ScriptedServices()
    answer = VGG.replace('return {"lr", "momentum", "dropout"}', 'return {"lr", "momentum"}')
    services.answers = [answer] * 9
    # The sandbox's static stage, as the real one runs it first.
    services.verdict = lambda code: CheckVerdict(
        check_source(code, "img-classification").outcome, Stage.STATIC
    )
    config = _config(fixes=False, mode="whole", near_copy_threshold=1.0)
    (candidate,) = await _search(store, services, config)
    assert candidate.outcome is Outcome.API_NONCOMPLIANCE and candidate.fixes == []
    # With fixes, declaring 'dropout' again gives back the parent itself: a duplicate, asked
    # again (unchanged_retries times) and then a duplicate still.
    services.answers = [answer] * 3
    (fixed,) = await _search(store, services, _config(mode="whole", near_copy_threshold=1.0))
    assert [fix["rule"] for fix in fixed.fixes] == ["undeclared-hyperparameter"]
    assert fixed.outcome is Outcome.DUPLICATE and "its parent VGG" in fixed.error_message
    assert [h["retry"] for h in fixed.history if "not_new" in h] == [0, 1]


async def test_a_near_copy_of_the_parent_is_a_duplicate(store):
    services = ScriptedServices()
    renamed = VGG.replace("channels", "width").replace("layers", "blocks").replace("256", "320")
    services.answers = [renamed]
    (candidate,) = await _search(store, services, _config(unchanged_retries=0))
    assert candidate.outcome is Outcome.DUPLICATE
    assert "near copy of its parent VGG" in candidate.error_message
    assert services.calls["check"] == 0


async def test_an_unchanged_repair_is_asked_again_hotter_and_with_another_seed(store):
    services = ScriptedServices()
    services.answers = [SE_EDIT, SE_EDIT, SE_EDIT.replace("reduction=8", "reduction=4")]
    first = True

    def verdict(code):
        nonlocal first
        if first:
            first = False
            return CheckVerdict(Outcome.SHAPE_MISMATCH, Stage.FORWARD, "RuntimeError", "bad")
        return CheckVerdict(Outcome.SUCCESS)

    services.verdict = verdict
    (candidate,) = await _search(store, services, _config(near_copy_threshold=1.0))
    assert candidate.outcome is Outcome.SUCCESS and candidate.repair_attempts == 1
    assert [h for h in candidate.history if h.get("unchanged")] == [
        {"attempt": 1, "unchanged": True, "retry": 0, "outcome": "shape_mismatch"}
    ]
    _, (t1, s1), (t2, s2) = services.sampling
    assert t2 > t1 and s2 != s1
    assert services.prompts[1].template == "repair_edit"


async def test_new_parameters_without_gradient_mean_the_idea_was_not_applied(store):
    services = ScriptedServices()
    services.answers = [SE_EDIT]
    services.verdict = lambda code: CheckVerdict(
        Outcome.SUCCESS, unused_parameters=("se.fc1.weight", "se.fc1.bias")
    )
    (candidate,) = await _search(store, services, _config())
    assert candidate.outcome is Outcome.SUCCESS and candidate.idea_applied is False
    assert candidate.unused_parameters == ["se.fc1.weight", "se.fc1.bias"]
    assert candidate_to_pb(candidate).idea_application == 2  # IDEA_APPLICATION_NOT_APPLIED


async def test_the_next_prompt_carries_what_the_last_candidate_did(store):
    services = ScriptedServices()
    services.answers = [SE_EDIT]  # then no code at all: the repairs change nothing
    services.verdict = lambda code: CheckVerdict(
        Outcome.SHAPE_MISMATCH, Stage.FORWARD, "RuntimeError", "mat1 and mat2 shapes differ"
    )
    await _search(store, services, _config(2))
    memory = services.prompts[-1].variables["memory"]
    assert "apply 'squeeze-and-excitation' to VGG" in memory
    assert "added SqueezeExcite" in memory and "mat1 and mat2 shapes differ" in memory


async def test_a_first_answer_that_copies_its_parent_is_asked_again_hotter(store):
    services = ScriptedServices()
    services.answers = [VGG, SE_EDIT]
    (candidate,) = await _search(store, services, _config())
    assert candidate.outcome is Outcome.SUCCESS and candidate.repair_attempts == 0
    (retried,) = [h for h in candidate.history if "not_new" in h]
    assert retried["retry"] == 0 and "its parent VGG" in retried["not_new"]
    (t1, s1), (t2, s2) = services.sampling
    assert t2 > t1 and s2 != s1
    assert candidate.llm_usage["calls"] == 2  # the discarded answer's cost is counted


def _head_sized_for_1x1(services: ScriptedServices, answers: int) -> None:
    """Answers whose head is sized for a 1x1 pool while the features are pooled to 2x2 (768
    features), and the error the forward pass raises for them."""
    services.answers = [VGG.replace("nn.Linear(channels * 4, 256)", "nn.Linear(192, 256)")]
    services.answers *= answers
    services.verdict = lambda code: (
        CheckVerdict(
            Outcome.SHAPE_MISMATCH,
            Stage.FORWARD,
            "RuntimeError",
            "mat1 and mat2 shapes cannot be multiplied (2x768 and 192x256)",
        )
        if "nn.Linear(192, 256)" in code
        else CheckVerdict(Outcome.SUCCESS)
    )


async def test_a_layer_size_the_error_names_is_fixed_without_a_repair_round(store):
    services = ScriptedServices()
    _head_sized_for_1x1(services, 1)
    config = _config(mode="whole", near_copy_threshold=1.0)
    (candidate,) = await _search(store, services, config)
    assert candidate.outcome is Outcome.SUCCESS and candidate.repair_attempts == 0
    assert candidate.fixes == [
        {"rule": "layer-size-from-error", "detail": "Linear in_features 192 -> 768 (line 35)"}
    ]
    assert "nn.Linear(768, 256)" in candidate.code
    assert services.calls["generate"] == 1 and services.calls["check"] == 2
    (entry,) = candidate.history
    assert entry["fixed"].startswith("Linear in_features") and entry["outcome"] == "shape_mismatch"


async def test_without_fixes_a_layer_size_is_the_models_to_repair(store):
    services = ScriptedServices()
    _head_sized_for_1x1(services, 3)
    config = _config(fixes=False, mode="whole", near_copy_threshold=1.0)
    (candidate,) = await _search(store, services, config)
    assert candidate.outcome is Outcome.SHAPE_MISMATCH and candidate.fixes == []
    assert candidate.repair_attempts == 2


def _trained_config(**extra):
    config = _config(near_copy_threshold=1.0, **extra)
    return config.model_copy(update={"training": config.training.model_copy(update={"epochs": 2})})


async def test_a_training_that_diverged_is_repaired_with_its_error_and_curve(store):
    services = ScriptedServices()
    services.answers = [SE_EDIT, SE_EDIT.replace("reduction=8", "reduction=4")]
    services.training_failures = [(Outcome.TRAINING_FAILURE, "the loss is nan at epoch 1")]
    (candidate,) = await _search(store, services, _trained_config())
    assert candidate.outcome is Outcome.SUCCESS and candidate.repair_attempts == 1
    assert "reduction=4" in candidate.code and len(candidate.epochs) == 2
    repair = services.prompts[-1]
    assert repair.template == "repair_edit"
    assert "the loss is nan at epoch 1" in repair.variables["error"]
    assert "Training curve: epoch 1: train loss nan, validation 0.1" in repair.variables["error"]
    assert candidate.history[0]["stage"] == "train"
    assert services.calls == {"generate": 2, "check": 2, "train": 2}


async def test_a_training_failure_stands_once_the_repairs_are_spent(store):
    services = ScriptedServices()
    services.answers = [SE_EDIT]
    services.training_failures = [(Outcome.TRAINING_FAILURE, "the loss is nan")]
    (candidate,) = await _search(store, services, _trained_config(unchanged_retries=0))
    # No repair answer holds code: the training's own failure is the outcome.
    assert candidate.outcome is Outcome.TRAINING_FAILURE
    assert services.calls["train"] == 1
