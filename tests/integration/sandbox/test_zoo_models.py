"""Every built-in zoo model passes the real sandbox check (a locked-down container) for its task."""

import pytest

from netapi.outcomes import Outcome
from netapi.tasks import default_spec
from search_core.zoo import builtin_models

MODELS = {model.name: model for model in builtin_models()}


@pytest.mark.parametrize("name", sorted(MODELS))
async def test_zoo_model_passes_the_container_check(checker, name):
    model = MODELS[name]
    spec = default_spec(model.task)
    result = await checker.check(model.code, spec, tenant="zoo")
    assert result.outcome is Outcome.SUCCESS, f"{result.stage}: {result.error_message}"
    assert result.unused_parameters == []
    assert 50_000 < result.parameter_count < 1_500_000
