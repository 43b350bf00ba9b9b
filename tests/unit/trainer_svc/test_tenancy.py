"""Per-tenant training limits: jobs in flight and GPU minutes a UTC day (no engine needed).

Jobs are held at their Accepted event, before any data or container is touched; the same
limits with real containers are in tests/integration/trainer/test_tenancy.py. The limits are
counted in the quota ledger, shared by replicas on one (tests/unit/rpc/test_quota_ledger.py).
"""

import pytest

from netapi.outcomes import Outcome
from rpc.errors import QuotaExceeded, Unavailable
from rpc.quota_ledger import SqliteLedger
from rpc.tenants import Quotas
from tests.unit.trainer_svc.jobs import small_job
from trainer_svc.config import TrainerSettings
from trainer_svc.container_run import ContainerTraining
from trainer_svc.core import SECONDS_PER_DAY, Trainer
from trainer_svc.events import Accepted, Finished

JOB = small_job()
DAY = 20_000 * SECONDS_PER_DAY  # a UTC midnight
DAY_NUMBER = 20_000  # the ledger's number of that day


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def trainer(quotas=None, clock=None, ledger=None, **settings) -> Trainer:
    values = TrainerSettings(**{"max_queued_jobs": 8, **settings})
    training = ContainerTraining(values, launcher=None, client=None)
    return Trainer(values, training, quotas=quotas, clock=clock or Clock(DAY), ledger=ledger)


async def accepted(instance: Trainer, tenant: str, job=JOB):
    """A job of ``tenant`` admitted and held just after its Accepted event."""
    stream = instance.train(job, tenant=tenant)
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


class OneMinuteAndAHalf:
    """Stands in for the container training: the job runs 90 s on the test's clock."""

    runtime = "runsc"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def run(self, job_id, job, prepared, emit, cancellation, *, tenant) -> Finished:
        self.clock.now += 90
        return Finished(job_id, Outcome.SUCCESS, job.seed)


async def test_a_gpu_job_holds_its_time_limit_then_is_charged_its_wall_minutes():
    clock = Clock(DAY + 3600)
    instance = trainer(lambda t: Quotas(gpu_minutes_per_day=5), clock, gpu=True)
    ledger = instance.quota_ledger
    held = await accepted(instance, "acme")  # JOB's time limit: 120 s
    assert ledger.held("gpu_minutes_per_day", "acme", DAY_NUMBER) == 2
    await held.aclose()  # never started: charged nothing
    assert ledger.held("gpu_minutes_per_day", "acme", DAY_NUMBER) == 0
    assert ledger.used("gpu_minutes_per_day", "acme", DAY_NUMBER) == 0

    instance._training = OneMinuteAndAHalf(clock)
    instance._prepare = lambda job: None  # no data: the stand-in needs none
    instance._shaped = lambda job, prepared: job
    events = [event async for event in instance.train(JOB, tenant="acme")]
    assert events[-1].outcome is Outcome.SUCCESS
    assert ledger.used("gpu_minutes_per_day", "acme", DAY_NUMBER) == pytest.approx(1.5)
    assert ledger.held("gpu_minutes_per_day", "acme", DAY_NUMBER) == 0


async def test_a_tenant_out_of_gpu_minutes_is_refused_until_midnight():
    clock = Clock(DAY + 3600)
    quotas = {"acme": Quotas(gpu_minutes_per_day=5)}
    instance = trainer(lambda t: quotas.get(t, Quotas()), clock, gpu=True)
    instance.quota_ledger.reserve("gpu_minutes_per_day", "acme", DAY_NUMBER, 4, None).settle(4)
    clock.now += 300
    with pytest.raises(QuotaExceeded) as refused:  # 4 used + a 2-minute time limit > 5
        await anext(instance.train(JOB, tenant="acme"))
    (violation,) = refused.value.violations
    assert (violation.quota_id, violation.limit) == ("gpu_minutes_per_day", 5)
    assert "4.0 of 5 minutes" in str(refused.value)
    assert refused.value.retry_after_seconds == pytest.approx(SECONDS_PER_DAY - 3600 - 300)
    assert instance.quota_ledger.held("concurrent_trainings", "acme") == 0  # given back
    await (await accepted(instance, "acme", small_job(job_budget_seconds=60))).aclose()
    await (await accepted(instance, "globex")).aclose()
    clock.now = DAY + SECONDS_PER_DAY + 1  # a new UTC day
    await (await accepted(instance, "acme")).aclose()


async def test_gpu_minutes_are_not_counted_on_a_cpu_trainer():
    instance = trainer(lambda t: Quotas(gpu_minutes_per_day=0), gpu=False)
    await (await accepted(instance, "acme")).aclose()


async def test_two_replicas_on_one_quota_ledger_share_the_tenants_limits(tmp_path):
    clock = Clock(DAY + 3600)
    path = tmp_path / "ledger.db"
    quotas = {"acme": Quotas(concurrent_trainings=2, gpu_minutes_per_day=5)}
    replicas = [
        trainer(lambda t: quotas.get(t, Quotas()), clock, SqliteLedger(path, clock=clock), gpu=True)
        for _ in range(2)
    ]
    held = [await accepted(replica, "acme") for replica in replicas]  # one job on each
    with pytest.raises(QuotaExceeded, match="2 training jobs queued or running"):
        await anext(replicas[0].train(JOB, tenant="acme"))
    await held[1].aclose()
    # Replica 1 runs nothing now, but the job on replica 0 holds 2 of the 5 minutes.
    with pytest.raises(QuotaExceeded, match="GPU quota"):
        await anext(replicas[1].train(small_job(job_budget_seconds=240), tenant="acme"))
    await (await accepted(replicas[1], "acme", small_job(job_budget_seconds=180))).aclose()
    await held[0].aclose()


async def test_a_job_is_refused_unavailable_when_the_quota_ledger_is_out_of_reach(tmp_path):
    instance = trainer(ledger=SqliteLedger(tmp_path))  # a folder: no database opens there
    with pytest.raises(Unavailable, match="quota ledger"):
        await anext(instance.train(JOB, tenant="acme"))
    assert instance.in_flight == {}
