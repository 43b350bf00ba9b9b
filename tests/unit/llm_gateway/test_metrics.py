"""The gateway's metrics: closed label sets created at zero, bounded tenants, what is counted."""

from prometheus_client import CollectorRegistry

from llm_gateway.config import GatewaySettings, ModelConfig, TenantLimits
from llm_gateway.domain import Analysis, AnswerKind, HallucinatedName, HallucinationKind
from llm_gateway.metrics import GatewayMetrics
from llm_gateway.resilience import BreakerState
from netapi.outcomes import Outcome


def metrics(cap: int = 20) -> tuple[GatewayMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    settings = GatewaySettings(
        models=[ModelConfig(name="m", backend="tgi", url="http://127.0.0.1:9")],
        tenant_limits={"acme": TenantLimits(), "beta": TenantLimits()},
        metrics_tenant_cap=cap,
    )
    return GatewayMetrics.for_settings(registry, settings), registry


def test_every_series_exists_at_zero_before_any_call():
    _, registry = metrics()
    value = registry.get_sample_value
    for result in ("ok", "unavailable", "timeout", "rejected", "circuit_open", "queue_full"):
        assert (
            value("nasforge_gateway_upstream_requests_total", {"model": "m", "result": result}) == 0
        )
    for kind in ("module", "attribute", "keyword"):
        assert value("nasforge_gateway_hallucinations_total", {"model": "m", "kind": kind}) == 0
    for reason in ("no_code", "truncated"):
        assert (
            value("nasforge_gateway_extraction_failures_total", {"model": "m", "reason": reason})
            == 0
        )
    for tenant in ("acme", "beta", "other"):
        for quota in ("daily_tokens", "requests_per_minute"):
            labels = {"tenant": tenant, "quota": quota}
            assert value("nasforge_gateway_quota_rejections_total", labels) == 0
    assert value("nasforge_gateway_generated_tokens_total", {"model": "m"}) == 0


def test_tenants_beyond_the_configured_ones_and_the_cap_are_other():
    gateway, registry = metrics(cap=1)
    gateway.quota_rejected("acme", "daily_tokens")
    gateway.quota_rejected("beta", "daily_tokens")  # configured, but over the cap of 1
    gateway.quota_rejected("zeta", "daily_tokens")
    value = registry.get_sample_value
    labels = {"quota": "daily_tokens"}
    assert value("nasforge_gateway_quota_rejections_total", {"tenant": "acme", **labels}) == 1
    assert value("nasforge_gateway_quota_rejections_total", {"tenant": "other", **labels}) == 2
    assert value("nasforge_gateway_quota_rejections_total", {"tenant": "beta", **labels}) is None


def test_analyses_tokens_calls_and_breaker_states_are_counted():
    gateway, registry = metrics()
    names = (
        HallucinatedName(HallucinationKind.MODULE, "einops", 3),
        HallucinatedName(HallucinationKind.ATTRIBUTE, "torch.nn.Swish", 9),
        HallucinatedName(HallucinationKind.ATTRIBUTE, "torch.nn.Mish2", 10),
    )
    gateway.answer_analysed(
        "m", Analysis(AnswerKind.NET_CODE, Outcome.HALLUCINATED_API, hallucinated_names=names)
    )
    gateway.answer_analysed("m", Analysis(AnswerKind.NET_CODE, Outcome.TRUNCATED))
    gateway.answer_analysed("m", Analysis(AnswerKind.NET_CODE, Outcome.SYNTAX_ERROR))
    gateway.tokens_counted("m", 100, 7)
    gateway.upstream_finished("m", "ok", 0.2)
    gateway.upstream_finished("m", "circuit_open", 0.0)
    gateway.breaker_changed("m", BreakerState.OPEN)
    value = registry.get_sample_value
    assert value("nasforge_gateway_hallucinations_total", {"model": "m", "kind": "attribute"}) == 2
    assert value("nasforge_gateway_hallucinations_total", {"model": "m", "kind": "module"}) == 1
    assert (
        value("nasforge_gateway_extraction_failures_total", {"model": "m", "reason": "truncated"})
        == 1
    )
    assert (
        value("nasforge_gateway_extraction_failures_total", {"model": "m", "reason": "no_code"})
        == 0
    )
    assert value("nasforge_gateway_prompt_tokens_total", {"model": "m"}) == 100
    assert value("nasforge_gateway_generated_tokens_total", {"model": "m"}) == 7
    assert (
        value("nasforge_gateway_upstream_latency_seconds_count", {"model": "m"}) == 1
    )  # not the refusal
    assert value("nasforge_gateway_circuit_state", {"model": "m"}) == 2
