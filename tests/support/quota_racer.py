"""Attackers of the quota ledger: OS processes that race for one tenant's quota at once.

Each racer opens its own ledger on the shared database, waits at a barrier so that all of
them start together, then asks as fast as it can; it reports what it was granted. Holds are
left open when it ends (no close(): like a process that dies), so the database still shows
them to the test, until their ttl.

Also `python -m tests.support.quota_racer URL TTL`: take one concurrent_checks hold of
tenant "victim", print "held", and sleep until killed (the SIGKILL test's holder).
"""

import multiprocessing
import sys
import time
from dataclasses import dataclass

from rpc.quota_ledger import Refusal, open_ledger, utc_day

TENANT = "mallory"
# Today: a ledger deletes the charges of days a month old when it opens.
DAY = utc_day(time.time())


@dataclass(frozen=True)
class Race:
    """What every racer asks for: ``tries`` holds (or reservations of ``amount`` on DAY)."""

    url: str
    kind: str  # "hold" or "reserve"
    limit: float
    tries: int
    amount: float = 1
    settle_every: int = 0  # settle every n-th reservation at once (0: never)
    day: int = DAY  # the parent's, should the racers start after midnight


def racer(race: Race, barrier, results) -> None:
    ledger = open_ledger(race.url)
    ledger.used("warm-up", TENANT, race.day)  # connected before the start, not in the race
    barrier.wait(60)
    granted = 0.0
    for attempt in range(race.tries):
        if race.kind == "hold":
            answer = ledger.hold("concurrent_checks", TENANT, race.limit, race.amount)
        else:
            answer = ledger.reserve("daily_tokens", TENANT, race.day, race.amount, race.limit)
        if isinstance(answer, Refusal):
            assert answer.used + race.amount > race.limit, answer
            continue
        granted += race.amount
        if race.settle_every and attempt % race.settle_every == 0:
            answer.settle(race.amount)  # now charged instead of held: still counted
    results.put(granted)


def run_race(race: Race, processes: int) -> list[float]:
    """Start ``processes`` racers (spawned: fresh interpreters); what each was granted."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    started = [
        context.Process(target=racer, args=(race, barrier, results)) for _ in range(processes)
    ]
    for process in started:
        process.start()
    granted = [results.get(timeout=120) for _ in started]
    for process in started:
        process.join(30)
        assert process.exitcode == 0, process.exitcode
    return granted


def hold_until_killed(url: str, ttl_s: float) -> None:
    ledger = open_ledger(url, ttl_s=ttl_s)
    answer = ledger.hold("concurrent_checks", "victim", 1)
    assert not isinstance(answer, Refusal), answer
    print("held", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    hold_until_killed(sys.argv[1], float(sys.argv[2]))
