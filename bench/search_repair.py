"""Benchmark of the repair loop: valid and novel candidates before repair and after each round.

    make bench-repair   (or: .venv/bin/python -m bench.search_repair --ideas 20)

Runs the real local stack (a fresh one per strategy) with the embedded Qwen2.5-Coder (1.5B by
default) and, for each repair strategy, one FairNAD search of `--ideas` candidates that only
checks (no training):
every slot applies a fairly sampled design idea to the same zoo parent, so both strategies
see the same 20 ideas in the same order (the search seed fixes them). Strategies:

- naive: the last line of the error fed back, one answer per step (the pipeline measured
  in ARCHITECTURE.md: 10% valid before repair, 20% after one round);
- full: the failing submodule with its shapes, the line, the findings and the shape trace
  of the last check, `--samples` answers per step (the first that is valid and new wins).

"Valid and novel" = ended `success` (passed the sandbox check and was not a duplicate of
its parent, a prompt example or an earlier candidate). Prints one table and the ratio of
full to naive after each round; asserts nothing. Writes var/bench/search_repair.json.
"""

import argparse
import asyncio
import json
import time
from pathlib import Path

from cli.search_client import SearchClient
from localstack import LocalStack
from netapi.outcomes import Outcome
from search_core.store import open_store

REPO_ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 3


def _config(strategy: str, ideas: int, samples: int, parent: str) -> dict:
    full = strategy == "full"
    return {
        "name": f"bench-repair-{strategy}",
        "method": "fairnad",
        "generator": "llm",
        "max_candidates": ideas,
        "seed": 2026,
        "repair_attempts": ROUNDS,
        "repair_feedback": "full" if full else "last_line",
        "repair_shape_trace": full,
        "samples_per_step": samples if full else 1,
        "max_new_tokens": 1200,
        "temperature": 0.7,
        "task": {
            "task": "img-classification",
            "dataset": "fashion-mnist",
            "in_shape": [64, 1, 28, 28],
            "out_shape": [10],
        },
        "training": {"epochs": 0},
        "fairnad": {"population_size": ideas, "seed_models": [parent]},
    }


def _rates(candidates) -> dict:
    """Share valid and novel within r repair rounds, for r = 0..ROUNDS, plus failure counts."""
    total = len(candidates)
    passed = [c for c in candidates if c.outcome is Outcome.SUCCESS]
    by_round = [
        sum(1 for c in passed if c.repair_attempts <= r) / total if total else 0.0
        for r in range(ROUNDS + 1)
    ]
    outcomes: dict[str, int] = {}
    for c in candidates:
        outcomes[c.outcome.value] = outcomes.get(c.outcome.value, 0) + 1
    unchanged = sum("unchanged" in json.dumps(c.history) for c in candidates)
    return {
        "valid_and_novel": by_round,
        "outcomes": outcomes,
        "candidates": total,
        "repair_rounds": sum(c.repair_attempts for c in candidates),
        "unchanged_answers": unchanged,
    }


async def _run(stack: LocalStack, config: dict) -> str:
    async with SearchClient(
        stack.target("search_core"), stack.tenant_token, tls=stack.public_tls
    ) as client:
        started = time.monotonic()
        search_id = await client.submit(config)
        await client.watch_with_progress(search_id)
        print(f"{config['name']}: {time.monotonic() - started:.0f} s")
        return search_id


def _measure(name: str, config: dict, model: str) -> dict:
    """One strategy on a stack of its own: duplicates are judged per store and tenant, and
    both strategies' first answers are the same (same prompts, same seeds)."""
    stack = LocalStack(directory=REPO_ROOT / "var" / "bench" / f"repair-{name}", model=model)
    stack.start()
    try:
        search_id = asyncio.run(_run(stack, config))
    finally:
        stack.stop()
    store = open_store(str(stack.directory / "nasforge.db"))
    try:
        return _rates(store.search_candidates(search_id))
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ideas", type=int, default=20)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--samples", type=int, default=2, help="answers per step (full)")
    parser.add_argument("--parent", default="VGG", help="zoo model every idea is applied to")
    parser.add_argument("--strategies", default="naive,full")
    args = parser.parse_args()
    configs = {
        name: _config(name, args.ideas, args.samples, args.parent)
        for name in args.strategies.split(",")
    }
    results = {name: _measure(name, config, args.model) for name, config in configs.items()}
    print(f"\nvalid and novel, {args.ideas} ideas, {args.model}")
    print("strategy  " + "  ".join(f"round {r}" for r in range(ROUNDS + 1)))
    for name, result in results.items():
        print(f"{name:<9} " + "  ".join(f"{v:7.0%}" for v in result["valid_and_novel"]))
        print(
            f"          outcomes {result['outcomes']}, unchanged answers "
            f"{result['unchanged_answers']}"
        )
    if "naive" in results and "full" in results:
        ratios = [
            (f / n if n else float("inf")) if f or n else 1.0
            for f, n in zip(
                results["full"]["valid_and_novel"], results["naive"]["valid_and_novel"], strict=True
            )
        ]
        print("full/naive " + "  ".join(f"{r:7.2f}" for r in ratios))
    out = REPO_ROOT / "var" / "bench" / "search_repair.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
