"""SandboxChecker with real containers: verdicts for good and broken candidates, both tasks."""

import pytest

from netapi.outcomes import Outcome, Stage
from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION, default_spec
from tests.integration.sandbox.conftest import GOOD_CAPTIONER, GOOD_CLASSIFIER, corpus


async def test_good_classifier_passes_with_measurements(checker):
    result = await checker.check(
        corpus(GOOD_CLASSIFIER), default_spec(IMG_CLASSIFICATION), tenant="acme"
    )
    assert result.outcome is Outcome.SUCCESS, result.error_message
    assert result.mode == "cold"
    assert result.output_shape == [2, 10]
    assert result.parameter_count > 10_000 and result.flops > 1_000_000
    assert result.peak_memory_bytes > 50 * 1024**2
    assert result.shape_trace and result.shape_trace[0]["input_shapes"] == [[2, 3, 32, 32]]
    assert {"import", "instantiate", "forward", "learn"} <= set(result.durations_ms)


async def test_good_captioner_passes_both_forward_modes(checker):
    result = await checker.check(
        corpus(GOOD_CAPTIONER), default_spec(IMG_CAPTIONING), tenant="acme"
    )
    assert result.outcome is Outcome.SUCCESS, result.error_message
    assert result.output_shape == [2, 11, 1000]


async def test_static_failure_needs_no_container(checker, launcher):
    result = await checker.check(
        corpus("26_forbidden_import_os_system"), default_spec(IMG_CLASSIFICATION), tenant="acme"
    )
    assert result.outcome is Outcome.FORBIDDEN_CODE
    assert result.mode == "static" and result.stage is Stage.STATIC


async def test_hallucinated_torch_name_is_caught_statically_by_the_image_index(checker):
    source = corpus(GOOD_CLASSIFIER).replace("F.relu(self.bn3", "F.swish(self.bn3", 1)
    assert source != corpus(GOOD_CLASSIFIER)
    result = await checker.check(source, default_spec(IMG_CLASSIFICATION), tenant="acme")
    assert result.outcome is Outcome.HALLUCINATED_API
    assert "torch.nn.functional.swish" in result.error_message


async def test_shape_error_names_the_failing_submodule_and_shapes(checker):
    source = corpus("51_batch_as_channels").replace("nn.Conv2d(in_shape[0]", "nn.Conv2d(2")
    result = await checker.check(source, default_spec(IMG_CLASSIFICATION), tenant="acme")
    assert result.outcome is Outcome.SHAPE_MISMATCH
    assert result.stage is Stage.FORWARD
    assert "in submodule 'conv1' (Conv2d): received [[2, 3, 32, 32]]" in result.error_message
    assert "expects 2 input channels" in result.error_message
    assert "candidate line" in result.error_message


async def test_wrong_output_shape_is_shape_mismatch(checker):
    source = corpus(GOOD_CLASSIFIER).replace("return self.fc(x)", "return self.fc(x)[:, :5]")
    assert source != corpus(GOOD_CLASSIFIER)
    result = await checker.check(source, default_spec(IMG_CLASSIFICATION), tenant="acme")
    assert result.outcome is Outcome.SHAPE_MISMATCH
    assert "expected logits of shape [2, 10]" in result.error_message


async def test_parameter_budget_gives_too_large(checker):
    result = await checker.check(
        corpus(GOOD_CLASSIFIER),
        default_spec(IMG_CLASSIFICATION),
        tenant="acme",
        parameter_budget=1000,
    )
    assert result.outcome is Outcome.TOO_LARGE
    assert "over the budget of 1,000" in result.error_message


@pytest.mark.parametrize(
    ("snippet", "outcome"),
    [
        (
            "x = torch.nn.Mish(inplace_mode=True)",
            Outcome.HALLUCINATED_API,
        ),
        ("raise ValueError('no luck')", Outcome.RUNTIME_ERROR),
    ],
)
async def test_runtime_failures_map_to_one_outcome(checker, snippet, outcome):
    source = corpus(GOOD_CLASSIFIER) + "\n" + snippet + "\n"
    result = await checker.check(
        source, default_spec(IMG_CLASSIFICATION), tenant="acme", skip_static=True
    )
    assert result.outcome is outcome, result.error_message
    assert result.stage is Stage.IMPORT


async def test_warm_pool_hands_out_single_use_containers(settings, launcher):
    from netapi.code_policy import load_policy
    from sandbox_runner.core import SandboxChecker

    warm = SandboxChecker(
        settings.model_copy(update={"pool_size": 1}), launcher, load_policy(settings)
    )
    await warm.start()
    try:
        assert await warm.pool.wait_full(60, "acme")
        first = await warm.check(
            corpus(GOOD_CLASSIFIER), default_spec(IMG_CLASSIFICATION), tenant="acme"
        )
        assert first.outcome is Outcome.SUCCESS and first.mode == "warm"
        assert await warm.pool.wait_full(60, "acme")
        ids_before = set(launcher.leftovers(expired_only=False))
        second = await warm.check(
            corpus(GOOD_CLASSIFIER), default_spec(IMG_CLASSIFICATION), tenant="acme"
        )
        assert second.mode == "warm"
        assert await warm.pool.wait_full(60, "acme")
        assert not ids_before & set(launcher.leftovers(expired_only=False))  # never reused
    finally:
        await warm.close()
    assert launcher.leftovers(expired_only=False) == []
