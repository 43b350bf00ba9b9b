"""Per-tenant training limits: jobs in flight and GPU minutes a UTC day (no engine needed).

Jobs are held at their Accepted event, before any data or container is touched; the same
limits with real containers are in tests/integration/trainer/test_tenancy.py.
"""

import pytest

from rpc.errors import QuotaExceeded
from rpc.tenants import Quotas
from tests.unit.trainer_svc.jobs import small_job
from trainer_svc.config import TrainerSettings
from trainer_svc.container_run import ContainerTraining
from trainer_svc.core import SECONDS_PER_DAY, GpuUsage, Trainer
from trainer_svc.events import Accepted

JOB = small_job()
DAY = 20_000 * SECONDS_PER_DAY  # a UTC midnight


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def trainer(quotas=None, clock=None, **settings) -> Trainer:
    values = TrainerSettings(**{"max_queued_jobs": 8, **settings})
    training = ContainerTraining(values, launcher=None, client=None)
    return Trainer(values, training, quotas=quotas, clock=clock or Clock(DAY))


async def accepted(instance: Trainer, tenant: str):
    """A job of ``tenant`` admitted and held just after its Accepted event."""
    stream = instance.train(JOB, tenant=tenant)
    assert isinstance(await anext(stream), Accepted)
    return stream


async def test_jobs_over_the_tenants_limit_are_refused_with_the_quota():
    quotas = {"acme": Quotas(concurrent_trainings=2)}
    instance = trainer(lambda tenant: quotas.get(tenant, Quotas()))
    held = [await accepted(instance, "acme") for _ in range(2)]
    with pytest.raises(QuotaExceeded) as refused:
        await anext(instance.train(JOB, tenant="acme"))
    (violation,) = refused.value.violations
    assert (violation.subject, violation.quota_id, violation.limit) == (
        "tenant:acme",
        "concurrent_trainings",
        2,
    )
    assert refused.value.retry_after_seconds > 0
    other = await accepted(instance, "globex")  # another tenant is not held back
    for stream in [*held, other]:
        await stream.aclose()
    assert instance.in_flight == {}
    await (await accepted(instance, "acme")).aclose()


async def test_the_setting_is_the_default_and_unset_means_the_queue_bound_only():
    limited = trainer(per_tenant_trainings=1)
    held = await accepted(limited, "acme")
    with pytest.raises(QuotaExceeded, match="its limit is 1"):
        await anext(limited.train(JOB, tenant="acme"))
    await held.aclose()

    unlimited = trainer(max_queued_jobs=2)  # 1 running + 2 queued
    held = [await accepted(unlimited, "acme") for _ in range(3)]
    with pytest.raises(QuotaExceeded, match="queue is full") as refused:
        await anext(unlimited.train(JOB, tenant="acme"))
    assert refused.value.violations == ()
    for stream in held:
        await stream.aclose()


def test_gpu_minutes_count_while_running_and_restart_at_utc_midnight():
    clock = Clock(DAY + 3600)
    usage = GpuUsage(clock)
    usage.started("j1", "acme")
    clock.now += 600
    assert usage.used("acme") == pytest.approx(10)
    usage.finished("j1")
    usage.started("j2", "acme")
    clock.now += 120
    assert usage.used("acme") == pytest.approx(12)
    assert usage.used("globex") == 0
    usage.finished("j2")
    clock.now = DAY + SECONDS_PER_DAY - 60  # a job that runs over midnight
    usage.started("j3", "acme")
    clock.now += 180
    assert usage.used("acme") == pytest.approx(2)  # only today's two minutes
    usage.finished("j3")
    assert usage.used("acme") == pytest.approx(2)
    assert usage.seconds_to_midnight() == pytest.approx(SECONDS_PER_DAY - 120)


async def test_a_tenant_out_of_gpu_minutes_is_refused_until_midnight():
    clock = Clock(DAY + 3600)
    quotas = {"acme": Quotas(gpu_minutes_per_day=5)}
    instance = trainer(lambda t: quotas.get(t, Quotas()), clock, gpu=True)
    instance.gpu_usage.started("earlier", "acme")
    clock.now += 5 * 60
    instance.gpu_usage.finished("earlier")
    with pytest.raises(QuotaExceeded) as refused:
        await anext(instance.train(JOB, tenant="acme"))
    (violation,) = refused.value.violations
    assert (violation.quota_id, violation.limit) == ("gpu_minutes_per_day", 5)
    assert refused.value.retry_after_seconds == pytest.approx(SECONDS_PER_DAY - 3600 - 300)
    await (await accepted(instance, "globex")).aclose()
    clock.now = DAY + SECONDS_PER_DAY + 1  # a new UTC day
    await (await accepted(instance, "acme")).aclose()


async def test_gpu_minutes_are_not_counted_on_a_cpu_trainer():
    instance = trainer(lambda t: Quotas(gpu_minutes_per_day=0), gpu=False)
    await (await accepted(instance, "acme")).aclose()
