"""Stage bounds, and generation never sharing the CPU with training."""

import asyncio

from search_core.engine.scheduling import StageGates


async def _occupy(gates, stage, log, seconds=0.02):
    async with gates.hold(stage, "acme"):
        log.append(("start", stage))
        await asyncio.sleep(seconds)
        log.append(("end", stage))


def _overlaps(log):
    active, worst = {}, set()
    for event, stage in log:
        active[stage] = active.get(stage, 0) + (1 if event == "start" else -1)
        running = {s for s, n in active.items() if n > 0}
        if {"generate", "train"} <= running:
            worst.add(frozenset(running))
    return worst


async def test_generate_and_train_never_overlap_when_exclusive():
    gates = StageGates({"generate": 2, "check": 2, "train": 2}, exclusive=True)
    log = []
    jobs = [_occupy(gates, stage, log) for stage in ["generate", "train"] * 6 + ["check"] * 4]
    await asyncio.gather(*jobs)
    assert not _overlaps(log)
    assert log.count(("start", "train")) == 6 and log.count(("start", "generate")) == 6


async def test_without_exclusivity_they_do_overlap():
    gates = StageGates({"generate": 2, "check": 2, "train": 2}, exclusive=False)
    log = []
    await asyncio.gather(*[_occupy(gates, s, log) for s in ["generate", "train"] * 3])
    assert _overlaps(log)


async def test_a_stage_never_exceeds_its_bound():
    gates = StageGates({"generate": 1, "check": 2, "train": 1}, exclusive=True)
    running, peak = 0, 0

    async def check():
        nonlocal running, peak
        async with gates.hold("check", "acme"):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*[check() for _ in range(10)])
    assert peak == 2


async def test_the_active_group_runs_its_queue_as_a_batch_within_its_slice():
    gates = StageGates({"generate": 1, "check": 1, "train": 1}, exclusive=True, slice_seconds=10)
    log = []
    first = asyncio.create_task(_occupy(gates, "train", log, 0.05))
    await asyncio.sleep(0.01)
    generate = asyncio.create_task(_occupy(gates, "generate", log))
    trains = [asyncio.create_task(_occupy(gates, "train", log, 0.02)) for _ in range(3)]
    await asyncio.gather(first, generate, *trains)
    starts = [stage for event, stage in log if event == "start"]
    assert starts == ["train"] * 4 + ["generate"]  # one switch, not one per training


async def test_a_waiting_group_takes_over_once_the_slice_is_used_up():
    gates = StageGates({"generate": 1, "check": 1, "train": 1}, exclusive=True, slice_seconds=0.1)
    log = []
    trains = [asyncio.create_task(_occupy(gates, "train", log, 0.04)) for _ in range(8)]
    await asyncio.sleep(0.01)
    generate = asyncio.create_task(_occupy(gates, "generate", log))
    await asyncio.gather(*trains, generate)
    starts = [stage for event, stage in log if event == "start"]
    assert 2 <= starts.index("generate") <= 5  # after about a slice of trainings, not the end
    assert not _overlaps(log)


async def test_a_group_with_nothing_left_hands_over_without_waiting_out_its_slice():
    gates = StageGates({"generate": 1, "check": 1, "train": 1}, exclusive=True, slice_seconds=30)
    log = []
    train = asyncio.create_task(_occupy(gates, "train", log, 0.02))
    await asyncio.sleep(0.005)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(train, _occupy(gates, "generate", log))
    assert loop.time() - started < 2  # the grace, not the 30 s slice


async def test_a_freed_check_slot_goes_to_the_tenant_that_waits_with_fewest():
    """Tenant A floods the check stage; B's one check gets the next free slot instead of
    waiting behind all of A's (the flood benchmark's latency goal)."""
    gates = StageGates({"check": 2}, exclusive=False)
    order: list[str] = []
    release = asyncio.Event()

    async def check(tenant: str, name: str) -> None:
        async with gates.hold("check", tenant):
            order.append(name)
            await release.wait()

    tasks = [asyncio.create_task(check("a", f"a{i}")) for i in range(6)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(check("b", "b0")))
    await asyncio.sleep(0)
    assert order == ["a0", "a1"]
    release.set()
    await asyncio.gather(*tasks)
    assert order.index("b0") == 2


async def test_a_tenant_at_its_share_leaves_a_slot_free_for_another():
    """With a per-tenant share of 1 check out of 2, a flooding tenant never holds both, so
    another tenant's check starts at once instead of waiting for one of the flood's."""
    gates = StageGates({"check": 2}, exclusive=False, per_tenant={"check": lambda tenant: 1})
    running: list[str] = []
    release = asyncio.Event()

    async def check(tenant: str, name: str) -> None:
        async with gates.hold("check", tenant):
            running.append(name)
            await release.wait()

    flood = [asyncio.create_task(check("a", f"a{i}")) for i in range(4)]
    await asyncio.sleep(0.01)
    assert running == ["a0"]
    other = asyncio.create_task(check("b", "b0"))
    await asyncio.sleep(0.01)
    assert running == ["a0", "b0"]
    release.set()
    await asyncio.gather(*flood, other)
    assert sorted(running) == ["a0", "a1", "a2", "a3", "b0"]
