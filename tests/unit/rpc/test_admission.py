"""The per-tenant admission rule: the registry's quota, else the setting, and one refusal."""

import pytest

from rpc.admission import WORDING, admit, exceeded, refusal, tenant_limit
from rpc.errors import QuotaExceeded, QuotaViolation
from rpc.tenants import QUOTA_NAMES, Quotas

REGISTRY = {"acme": Quotas(concurrent_checks=3, gpu_minutes_per_day=0)}


def registry(tenant: str) -> Quotas:
    return REGISTRY.get(tenant, Quotas())


def test_the_registry_quota_wins_over_the_setting_even_when_it_is_zero():
    assert tenant_limit(registry, "acme", "concurrent_checks", 2) == 3
    assert tenant_limit(registry, "acme", "gpu_minutes_per_day", 60.0) == 0


def test_without_a_registry_quota_the_setting_applies_and_none_is_unlimited():
    assert tenant_limit(registry, "globex", "concurrent_checks", 2) == 2
    assert tenant_limit(registry, "acme", "running_searches", None) is None
    assert tenant_limit(None, "acme", "concurrent_checks", 2) == 2


def test_a_quota_the_registry_does_not_know_is_a_bug_not_unlimited():
    with pytest.raises(ValueError, match="unknown quota 'daily_tokens'"):
        tenant_limit(registry, "acme", "daily_tokens", 5)


def test_admit_refuses_once_the_limit_is_reached():
    admit("acme", "concurrent_checks", used=1, limit=2)
    admit("acme", "concurrent_checks", used=10**6, limit=None)  # no limit
    with pytest.raises(QuotaExceeded) as refused:
        admit("acme", "concurrent_checks", used=2, limit=2, retry_after_seconds=1.0)
    assert refused.value.retry_after_seconds == 1.0
    with pytest.raises(QuotaExceeded):
        admit("acme", "gpu_minutes_per_day", used=0.0, limit=0)


# The wire of every worded quota, as each service wrote it by hand before rpc.admission.
EXPECTED = {
    "concurrent_checks": (
        {"used": 2, "limit": 2},
        "tenant acme has 2 checks in flight, its limit is 2; try again when one has finished",
        "2 container checks queued or running at once; 2 are",
        2,
    ),
    "concurrent_trainings": (
        {"used": 1, "limit": 1},
        "tenant acme has 1 training jobs queued or running, its limit is 1",
        "1 training jobs queued or running at once; 1 are",
        1,
    ),
    "gpu_minutes_per_day": (
        {"used": 5.04, "limit": 4.5},
        "GPU quota of tenant acme is used up: 5.0 of 4.5 minutes today (UTC)",
        "4.5 GPU wall minutes a UTC day on this trainer; 5.0 used",
        4,  # round(4.5): banker's rounding, as before
    ),
    "running_searches": (
        {"used": 4, "limit": 4},
        "tenant acme has 4 searches queued, running or paused, its quota is 4: "
        "cancel one or wait until one ends",
        "4 searches queued, running or paused at once; 4 are",
        4,
    ),
    "daily_tokens": (
        {"used": 990, "limit": 1000, "asking": 64},
        "daily token quota of tenant acme is used up: 990 of 1000 tokens used or held, "
        "this request may need 64",
        "1000 prompt + generated tokens a UTC day; 10 left, the request may need 64",
        1000,
    ),
}


@pytest.mark.parametrize("quota_id", sorted(EXPECTED))
def test_each_refusal_says_what_the_service_said_before(quota_id):
    values, message, description, limit = EXPECTED[quota_id]
    error = exceeded("acme", quota_id, retry_after_seconds=7, **values)
    assert str(error) == message
    assert error.violations == (QuotaViolation("tenant:acme", quota_id, limit, description),)
    assert error.retry_after_seconds == 7


def test_every_worded_quota_is_pinned_here():
    assert set(WORDING) == set(EXPECTED)


def test_left_is_never_negative():
    error = exceeded("acme", "daily_tokens", used=1200, limit=1000, asking=5)
    assert "; 0 left," in error.violations[0].description


def test_a_refusal_with_its_own_words_sends_the_limit_as_an_integer():
    error = refusal("acme", "requests_per_minute", 0.5 * 60, message="m", description="d")
    assert str(error) == "m" and error.retry_after_seconds is None
    assert error.violations == (QuotaViolation("tenant:acme", "requests_per_minute", 30, "d"),)
    assert isinstance(error.violations[0].limit, int)


def test_registry_quotas_and_worded_quotas_meet_where_they_should():
    # daily_tokens is the wire name of the registry's llm_tokens_per_day.
    assert set(WORDING) - set(QUOTA_NAMES) == {"daily_tokens"}
