"""search_core's candidate counter: bounded labels, every combination created at zero."""

from prometheus_client import CollectorRegistry

from search_core.metrics import SearchMetrics


def _value(registry: CollectorRegistry, **labels: str) -> float | None:
    return registry.get_sample_value("nasforge_candidates_total", labels)


def test_configured_models_and_variants_start_at_zero():
    registry = CollectorRegistry()
    SearchMetrics(registry, tenants=["acme"], models=["qwen"], prompt_variants=["v1"])
    common = {"outcome": "success", "method": "fairnad", "tenant": "acme"}
    assert _value(registry, **common, generator="llm", model="qwen", prompt_variant="v1") == 0
    assert _value(registry, **common, generator="llm", model="other", prompt_variant="v1") == 0
    assert (
        _value(registry, **common, generator="template", model="template", prompt_variant="v1") == 0
    )
    assert _value(registry, **common, generator="llm", model="other", prompt_variant="other") == 0
    # Unconfigured values never become labels: nothing exists for them.
    assert _value(registry, **common, generator="llm", model="gpt", prompt_variant="v1") is None
    assert (
        _value(registry, **common, generator="template", model="qwen", prompt_variant="v1") is None
    )
