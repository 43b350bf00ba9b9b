"""Benchmark of search_core replicas: searches and sandbox checks per minute with 1, 2 and 3
replicas on one PostgreSQL.

    make bench-replicas   (or: .venv/bin/python -m bench.replicas [--replicas 1 2 3]
                           [--searches 12] [--candidates 3] [--epochs 0] [--sandbox-checks 2])

For each replica count, a fresh LocalStack (no LLM; the real gateway, sandbox and trainer)
whose search_core replicas share a fresh database of one PostgreSQL server, as their store
and as every service's quota ledger. After a warm-up search (first containers, first
imports), the same workload every time: `--searches` random template searches of
`--candidates` candidates on Fashion-MNIST with the same seeds (checks only by default: each
candidate ends after its sandbox check), submitted at once round robin through the
replicas, each polled to its end. Searches per minute: searches ended over the wall time
from the first submit to the last end. Sandbox checks per minute: the sandbox_runner's
`check_ran` audit records of the workload over the same time. Checks per candidate above 1
means candidates checked twice: a search run by two replicas at once, which the search
leases prevent. Prints each figure and its ratio to the first replica count (1), measured in
the same run; asserts nothing.

On one machine every replica shares the cores, the one sandbox_runner (`--sandbox-checks`
containers at once) and the one trainer: more replicas add search_core's own capacity
(running searches, check and training slots per replica), not the sandbox's.
"""

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from cli.search_client import SearchClient
from localstack import LocalStack
from nasforge.search_core.v1 import search_core_pb2 as pb
from tests.support.postgres import running_postgres
from tests.support.searches import template_search

TENANT = "bench"
# Enough that the tenant's registry quotas never bound the workload (the per-replica
# settings and the sandbox do); the quota ledger still counts every check.
QUOTAS = ("running_searches=256", "concurrent_checks=256", "concurrent_trainings=256")
ENDED = {pb.SEARCH_STATE_SUCCEEDED, pb.SEARCH_STATE_FAILED, pb.SEARCH_STATE_CANCELLED}
AUDIT_FILE = "sandbox_audit.jsonl"


@dataclass(frozen=True)
class Workload:
    searches: int
    candidates: int
    epochs: int

    def config(self, seed: int, candidates: int | None = None) -> dict:
        return template_search(
            candidates=candidates or self.candidates,
            epochs=self.epochs,
            train_samples=512,
            validation_samples=64,
            test_samples=128,
            seed=seed,
        )


@dataclass(frozen=True)
class Run:
    replicas: int
    ended: int
    succeeded: int
    candidates: int  # evaluated, as the searches report them
    checks: int  # check_ran records of the sandbox
    wall_s: float

    @property
    def searches_per_minute(self) -> float:
        return 60 * self.ended / self.wall_s

    @property
    def checks_per_minute(self) -> float:
        return 60 * self.checks / self.wall_s


def _checks(stack: LocalStack) -> int:
    """The sandbox's checks of the benchmark's tenant so far (its audit log)."""
    path = stack.directory / AUDIT_FILE
    if not path.exists():
        return 0
    records = (json.loads(line) for line in path.read_text().splitlines() if line)
    return sum(1 for r in records if r["event"] == "check_ran" and r["tenant"] == TENANT)


async def _until_ended(client: SearchClient, search_id: str, deadline: float) -> pb.Search:
    while True:
        search = (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
        if search.state in ENDED:
            return search
        if time.monotonic() > deadline:
            raise TimeoutError(f"{search_id} still {pb.SearchState.Name(search.state)}")
        await asyncio.sleep(0.5)


async def _measure(stack: LocalStack, token: str, workload: Workload, timeout_s: float) -> Run:
    async with AsyncExitStack() as opened:
        clients = [
            await opened.enter_async_context(SearchClient(target, token, tls=stack.public_tls))
            for target in stack.targets()
        ]
        warm_up = await clients[0].submit(workload.config(seed=1, candidates=1))
        await _until_ended(clients[0], warm_up, time.monotonic() + timeout_s)
        checks_before = _checks(stack)
        started = time.monotonic()
        submitted = []  # round robin; the same seeds for every replica count
        for n in range(workload.searches):
            client = clients[n % len(clients)]
            submitted.append((client, await client.submit(workload.config(seed=100 + n))))
        deadline = started + timeout_s
        ended = await asyncio.gather(
            *(_until_ended(client, search_id, deadline) for client, search_id in submitted)
        )
        wall = time.monotonic() - started
    return Run(
        replicas=len(clients),
        ended=len(ended),
        succeeded=sum(s.state == pb.SEARCH_STATE_SUCCEEDED for s in ended),
        candidates=sum(s.candidates_evaluated for s in ended),
        checks=_checks(stack) - checks_before,
        wall_s=wall,
    )


async def _run_with(
    replicas: int, database: str, directory: Path, workload: Workload, args: argparse.Namespace
) -> tuple[Run, dict[str, int]]:
    stack = LocalStack(
        directory=directory,
        tenant="bench-admin",
        namespace=f"nasforge-bench-{uuid.uuid4().hex[:8]}",
        store_url=database,
        quota_ledger_url=database,
        search_core_replicas=replicas,
        extra_env={
            "sandbox_runner": {
                "NASFORGE_SANDBOX_AUDIT_LOG": str(directory / AUDIT_FILE),
                "NASFORGE_SANDBOX_MAX_CONCURRENT_CHECKS": str(args.sandbox_checks),
            }
        },
    )
    stack.start(with_llm=False)
    try:
        _, token = stack.add_tenant(TENANT, *QUOTAS)
        run = await _measure(stack, token, workload, args.timeout)
    finally:
        codes = stack.stop()
    return run, codes


def _print(runs: list[Run], workload: Workload, args: argparse.Namespace) -> None:
    base = runs[0]
    kind = "checks only" if workload.epochs == 0 else f"{workload.epochs} epoch(s) trained"
    print(
        f"\nsearch_core replicas on one PostgreSQL: {workload.searches} random template "
        f"searches x {workload.candidates} candidates ({kind}); one sandbox_runner "
        f"({args.sandbox_checks} checks at once), one trainer"
    )
    header = (
        f"{'replicas':>8}{'ended':>7}{'ok':>5}{'wall':>9}{'searches/min':>14}{'ratio':>7}"
        f"{'checks/min':>12}{'ratio':>7}{'checks/cand':>13}"
    )
    print(header)
    for run in runs:
        per_candidate = run.checks / run.candidates if run.candidates else float("nan")
        print(
            f"{run.replicas:>8}{run.ended:>7}{run.succeeded:>5}{run.wall_s:>8.1f}s"
            f"{run.searches_per_minute:>14.2f}"
            f"{run.searches_per_minute / base.searches_per_minute:>7.2f}"
            f"{run.checks_per_minute:>12.1f}"
            f"{run.checks_per_minute / base.checks_per_minute:>7.2f}"
            f"{per_candidate:>13.2f}"
        )
    print(f"ratios: to {base.replicas} replica(s), measured in the same run")


async def run(args: argparse.Namespace) -> None:
    workload = Workload(args.searches, args.candidates, args.epochs)
    runs = []
    with (
        running_postgres() as server,
        tempfile.TemporaryDirectory(prefix="nasforge-bench-replicas-") as scratch,
    ):
        for replicas in args.replicas:
            database = server.create_database()
            try:
                result, codes = await _run_with(
                    replicas, database, Path(scratch) / f"stack-{replicas}", workload, args
                )
            finally:
                server.drop_database(database)
            print(
                f"{replicas} replica(s): {result.ended} searches in {result.wall_s:.1f} s, "
                f"{result.checks} checks; exit codes {codes}",
                flush=True,
            )
            runs.append(result)
    _print(runs, workload, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--searches", type=int, default=12, help="searches per replica count")
    parser.add_argument("--candidates", type=int, default=3, help="candidates per search")
    parser.add_argument("--epochs", type=int, default=0, help="0: checks only")
    parser.add_argument(
        "--sandbox-checks", type=int, default=2, help="the sandbox's containers checking at once"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per replica count")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
