"""One per-tenant admission rule: what a tenant may do, and the one refusal when it may not.

A tenant's limit on a quota is the registry's value for it (rpc.tenants.Quotas, re-read as
the file changes), else the enforcing service's setting, else none (unlimited). A request
over it is refused with a QuotaExceeded that names the quota (subject ``tenant:NAME``, the
quota id, its value), which rpc.error_mapping sends as RESOURCE_EXHAUSTED with a
google.rpc.QuotaFailure. The wording of each quota's refusal is kept here, in `WORDING`, so
every service that enforces a quota says the same thing on the wire.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from rpc.errors import QuotaExceeded, QuotaViolation
from rpc.tenants import QUOTA_NAMES, Quotas

QuotaLookup = Callable[[str], Quotas]  # tenant -> its registry quotas (TenantDirectory.quotas)
N = TypeVar("N", int, float)


def tenant_limit(
    registry: QuotaLookup | None, tenant: str, quota: str, setting: N | None
) -> N | None:
    """The tenant's limit on ``quota`` (a Quotas field): the registry's, else ``setting``.

    None: unlimited. ``registry`` is None when the service runs without a tenant registry.
    """
    if quota not in QUOTA_NAMES:
        raise ValueError(f"unknown quota {quota!r} (known: {', '.join(QUOTA_NAMES)})")
    value = getattr(registry(tenant), quota) if registry is not None else None
    return value if value is not None else setting


@dataclass(frozen=True)
class Wording:
    """The error message and the QuotaViolation description of one quota's refusal.

    Both are str.format templates over ``tenant``, ``used`` (what counts against the limit
    now), ``limit``, ``asking`` (what the request would add) and ``left`` (limit - used, at
    least 0).
    """

    message: str
    description: str


WORDING: dict[str, Wording] = {
    "concurrent_checks": Wording(  # sandbox_runner
        "tenant {tenant} has {used} checks in flight, its limit is {limit}; "
        "try again when one has finished",
        "{limit} container checks queued or running at once; {used} are",
    ),
    "concurrent_trainings": Wording(  # trainer_svc
        "tenant {tenant} has {used} training jobs queued or running, its limit is {limit}",
        "{limit} training jobs queued or running at once; {used} are",
    ),
    "gpu_minutes_per_day": Wording(  # trainer_svc with gpu=true
        "GPU quota of tenant {tenant} is used up: {used:.1f} of {limit:g} minutes today (UTC)",
        "{limit:g} GPU wall minutes a UTC day on this trainer; {used:.1f} used",
    ),
    "running_searches": Wording(  # search_core
        "tenant {tenant} has {used} searches queued, running or paused, "
        "its quota is {limit}: cancel one or wait until one ends",
        "{limit} searches queued, running or paused at once; {used} are",
    ),
    "daily_tokens": Wording(  # llm_gateway: the registry's llm_tokens_per_day
        "daily token quota of tenant {tenant} is used up: {used} of {limit} tokens used or "
        "held, this request may need {asking}",
        "{limit} prompt + generated tokens a UTC day; {left} left, the request may need {asking}",
    ),
}


def refusal(
    tenant: str,
    quota_id: str,
    limit: float,
    *,
    message: str,
    description: str,
    retry_after_seconds: float | None = None,
) -> QuotaExceeded:
    """The error refusing ``tenant`` over one quota (its value sent rounded to an integer)."""
    violation = QuotaViolation(
        subject=f"tenant:{tenant}", quota_id=quota_id, limit=round(limit), description=description
    )
    return QuotaExceeded(message, violations=(violation,), retry_after_seconds=retry_after_seconds)


def exceeded(
    tenant: str,
    quota_id: str,
    *,
    used: float,
    limit: float,
    asking: float = 1,
    retry_after_seconds: float | None = None,
) -> QuotaExceeded:
    """The refusal of a quota in `WORDING`, for a service that decided the tenant is over it."""
    wording = WORDING[quota_id]
    values = {
        "tenant": tenant,
        "used": used,
        "limit": limit,
        "asking": asking,
        "left": max(limit - used, 0),
    }
    return refusal(
        tenant,
        quota_id,
        limit,
        message=wording.message.format(**values),
        description=wording.description.format(**values),
        retry_after_seconds=retry_after_seconds,
    )


def admit(
    tenant: str,
    quota_id: str,
    *,
    used: float,
    limit: float | None,
    retry_after_seconds: float | None = None,
) -> None:
    """Refuse (raise `exceeded`) when ``used`` has reached ``limit``; None: no limit."""
    if limit is not None and used >= limit:
        raise exceeded(
            tenant, quota_id, used=used, limit=limit, retry_after_seconds=retry_after_seconds
        )
