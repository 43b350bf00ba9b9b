"""Benchmark of tenant isolation under load: a small search's check latency, idle vs flooded.

    make bench-flood        (or: .venv/bin/python -m bench.tenant_flood [--candidates N])

On one LocalStack (template searches, checks only: each candidate ends after its sandbox
check), tenant B's small search runs (1) on an idle system, then (2) while tenant A floods:
searches with large budgets up to its running-searches quota, and a stream of further
submits that its quota refuses (RESOURCE_EXHAUSTED). A candidate's check latency is its time
from being planned to its verdict (waiting for a check slot included), read from the store.
Prints both, B's search wall times, A's refusals, and the ratio flooded / idle, measured in
the same run; the goal (issue 8) is a ratio of at most 2. It asserts nothing.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import grpc

from localstack import LocalStack
from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from netapi.outcomes import Outcome
from rpc.client import open_channel
from search_core.store import open_store

GOAL_RATIO = 2.0


def _config(candidates: int, seed: int) -> str:
    return json.dumps(
        {
            "method": "random",
            "generator": "template",
            "max_candidates": candidates,
            "seed": seed,
            "task": {
                "task": "img-classification",
                "dataset": "fashion-mnist",
                "in_shape": [32, 1, 28, 28],
                "out_shape": [10],
            },
            "training": {"epochs": 0},
        }
    )


def _submit(candidates: int, seed: int, key: str = "") -> pb.SubmitSearchRequest:
    spec = pb.SearchSpec(method=pb.SEARCH_METHOD_RANDOM, config_json=_config(candidates, seed))
    return pb.SubmitSearchRequest(spec=spec, client_request_id=key)


def _token(stack: LocalStack, name: str, *quotas: str) -> str:
    return stack.add_tenant(name, *quotas)[1]


async def _until_live(client: pb_grpc.SearchServiceStub) -> None:
    """A new token reaches search_core within a second or two (the registry is re-read)."""
    for _ in range(50):
        try:
            await client.GetLeaderboard(pb.GetLeaderboardRequest(task="img-classification"))
            return
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            await asyncio.sleep(0.2)
    raise RuntimeError("the new token was never accepted")


async def _run_search(client, store, candidates: int, seed: int) -> tuple[list[float], float]:
    """Submit and follow one search to its end: (check latencies in s, wall time in s).

    Every search of B needs its own seed: a tenant's repeated code is answered from its
    earlier verdict (dedup) without a check."""
    started = time.monotonic()
    search_id = (await client.SubmitSearch(_submit(candidates, seed))).search_id
    async for _ in client.WatchSearch(pb.WatchSearchRequest(search_id=search_id), timeout=3600):
        pass
    wall = time.monotonic() - started
    checked = [
        c
        for c in store.search_candidates(search_id)
        if c.finished_at is not None and c.outcome is not Outcome.DUPLICATE
    ]
    if not checked:
        raise RuntimeError(f"{search_id}: every candidate was a duplicate; change the seeds")
    return [c.finished_at - c.created_at for c in checked], wall


async def _flood(client, quota: int, stop: asyncio.Event, refusals: list[str]) -> list[str]:
    """A's flood: searches up to its quota, then a submit every half second (refused)."""
    searches = [
        (await client.SubmitSearch(_submit(10_000, seed=100 + n, key=f"flood-{n}"))).search_id
        for n in range(quota)
    ]
    n = 0
    while not stop.is_set():
        burst = await asyncio.gather(
            *(client.SubmitSearch(_submit(10_000, seed=n + k)) for k in range(4)),
            return_exceptions=True,
        )
        for result in burst:
            if isinstance(result, grpc.aio.AioRpcError):
                refusals.append(result.code().name)
            else:  # accepted over the quota: keep it in the flood, and in the report
                searches.append(result.search_id)
        n += 4
        await asyncio.sleep(0.5)
    return searches


def _describe(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return statistics.median(ordered), p90


async def run(candidates: int, quota: int, directory: Path) -> None:
    stack = LocalStack(
        directory=directory,
        tenant="bench-admin",
        namespace=f"nasforge-bench-{uuid.uuid4().hex[:8]}",
    )
    stack.start(with_llm=False)
    try:
        a_token = _token(stack, "bench-a", f"running_searches={quota}")
        b_token = _token(stack, "bench-b")
        target, tls = stack.target("search_core"), stack.public_tls
        a_channel = open_channel(target, token=a_token, tls=tls, default_timeout_seconds=60)
        b_channel = open_channel(target, token=b_token, tls=tls, default_timeout_seconds=60)
        a, b = pb_grpc.SearchServiceStub(a_channel), pb_grpc.SearchServiceStub(b_channel)
        await _until_live(a)
        await _until_live(b)
        store = open_store(str(stack.directory / "nasforge.db"))

        await _run_search(b, store, 1, seed=1)  # warm-up: first containers, first imports
        idle, idle_wall = await _run_search(b, store, candidates, seed=2)

        stop, refusals = asyncio.Event(), []
        flooding = asyncio.create_task(_flood(a, quota, stop, refusals))
        await asyncio.sleep(10)  # A's searches are under way and hold every check slot
        flooded, flooded_wall = await _run_search(b, store, candidates, seed=3)
        stop.set()
        a_searches = await flooding
        for search_id in a_searches:
            await a.CancelSearch(pb.CancelSearchRequest(search_id=search_id))
        await a_channel.close()
        await b_channel.close()
    finally:
        codes = stack.stop()

    idle_median, idle_p90 = _describe(idle)
    flood_median, flood_p90 = _describe(flooded)
    ratio = flood_median / idle_median
    print(f"\ntenant flood benchmark: B's search of {candidates} candidates (checks only)")
    print(f"{'system':<32}{'checked':>8}{'check median':>14}{'check p90':>12}{'search wall':>14}")
    rows = (
        ("(1) idle", idle, idle_median, idle_p90, idle_wall),
        (f"(2) A flooding (quota {quota})", flooded, flood_median, flood_p90, flooded_wall),
    )
    for label, samples, median, p90, wall in rows:
        print(f"{label:<32}{len(samples):>8}{median:>12.1f} s{p90:>10.1f} s{wall:>12.1f} s")
    print(
        f"ratio flooded / idle, median check latency: {ratio:.2f} "
        f"(goal <= {GOAL_RATIO:.0f}: {'met' if ratio <= GOAL_RATIO else 'NOT met'})"
    )
    kinds = {code: refusals.count(code) for code in sorted(set(refusals))}
    print(
        f"A's searches running: {len(a_searches)} (quota {quota}); "
        f"A's submits refused: {len(refusals)} {kinds}"
    )
    print(
        f"stack exit codes: {codes}; containers left behind and removed: {stack.leftovers_removed}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=6, help="B's search budget")
    parser.add_argument("--quota", type=int, default=2, help="A's running_searches quota")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nasforge-bench-flood-") as directory:
        asyncio.run(run(args.candidates, args.quota, Path(directory) / "stack"))


if __name__ == "__main__":
    main()
