"""Benchmark of LLM generation: valid, novel and applied candidates, and what each one costs.

    make bench-repair   (or: .venv/bin/python -m bench.search_repair --ideas 20 --ablation)

For each model and configuration, runs the real local stack (a fresh one per run, so
duplicates are judged per run) with the embedded model, and one FairNAD search of `--ideas`
candidates that only checks (no training): every slot applies a fairly sampled design idea
to the same zoo parent, so every configuration sees the same ideas in the same order (the
search seed fixes them). Configurations:

- today: the pipeline before the generation levers: whole-module answers (idea before the
  parent in the prompt), no fixes, no memory, unchanged repairs not retried, exact-hash
  duplicates only;
- new: the defaults (edit mode, fixes, memory, unchanged retries, near copies);
- with --ablation, `new` with one lever off in turn (no-edit, no-fixes, no-memory,
  no-retry) and with the code-block grammar on (grammar), which is off by default.

Every configuration is judged by the same yardstick after the run: a candidate is valid,
novel and applied (VNA) when it passed the check, its MinHash similarity to the parent and
to the run's earlier passing candidates stays under the default threshold, and no
parameter it added went without a gradient. Prints one table per model with 95% Wilson
intervals and the ratio of LLM seconds per VNA candidate, new over today; asserts nothing.
Writes var/bench/search_repair.json (or --out).
"""

import argparse
import asyncio
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

from cli.search_client import SearchClient
from localstack import LocalStack
from netapi.outcomes import Outcome
from search_core.generation.funnel import Share, funnel
from search_core.generation.similarity import DEFAULT_THRESHOLD, Signature, nearest, signature
from search_core.store import open_store

REPO_ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 2
TODAY = {
    "mode": "whole",
    "fixes": False,
    "memory_window": 0,
    "near_copy_threshold": 1.0,
    "unchanged_retries": 0,
}
NEW: dict = {}
ABLATIONS = {
    "no-edit": {"mode": "whole"},
    "no-fixes": {"fixes": False},
    "no-memory": {"memory_window": 0},
    "no-retry": {"unchanged_retries": 0},
    "grammar": {},
}
GRAMMAR_ON = frozenset({"grammar"})


def _config(name: str, generation: dict, ideas: int, parent: str) -> dict:
    return {
        "name": f"bench-generation-{name}",
        "method": "fairnad",
        "generator": "llm",
        "max_candidates": ideas,
        "seed": 2026,
        "repair_attempts": ROUNDS,
        "repair_feedback": "full",
        "repair_shape_trace": True,
        "samples_per_step": 1,
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
        "generation": generation,
    }


def _judged(candidates, parent_code: str) -> list:
    """The candidates with idea_applied and outcome judged by one yardstick for every
    configuration: a passing near copy of the parent or of an earlier pass is a duplicate."""
    parent = signature(parent_code)
    seen: list[tuple[str, Signature]] = [("parent", parent)] if parent else []
    judged = []
    for candidate in sorted(candidates, key=lambda c: (c.finished_at or 0, c.slot)):
        if candidate.outcome is Outcome.SUCCESS:
            mine = signature(candidate.code)
            if mine is not None and nearest(mine, seen, DEFAULT_THRESHOLD) is not None:
                candidate = replace(candidate, outcome=Outcome.DUPLICATE)
            elif mine is not None:
                seen.append((candidate.name, mine))
        judged.append(candidate)
    return judged


async def _run(stack: LocalStack, config: dict) -> str:
    async with SearchClient(
        stack.target("search_core"), stack.tenant_token, tls=stack.public_tls
    ) as client:
        started = time.monotonic()
        search_id = await client.submit(config)
        await client.watch_with_progress(search_id)
        print(f"{config['name']}: {time.monotonic() - started:.0f} s", flush=True)
        return search_id


def _measure(model: str, name: str, config: dict, parent_code: str, threads: int) -> dict:
    directory = REPO_ROOT / "var" / "bench" / f"generation-{model}-{name}"
    shutil.rmtree(directory, ignore_errors=True)  # a fresh store: duplicates judged per run
    stack = LocalStack(
        directory=directory,
        model=model,
        llm_threads=threads,
        constrain_code=name in GRAMMAR_ON,
    )
    stack.start()
    try:
        search_id = asyncio.run(_run(stack, config))
    finally:
        stack.stop()
    store = open_store(str(stack.directory / "nasforge.db"))
    try:
        candidates = store.search_candidates(search_id)
    finally:
        store.close()
    figures = funnel(_judged(candidates, parent_code), ROUNDS)
    # Answers discarded and asked again: unchanged repairs, and first answers that were not new.
    asked_again = sum(
        1 for c in candidates for h in c.history if h.get("unchanged") or "not_new" in h
    )
    return {**figures.to_dict(), "asked_again": asked_again, "config": config["generation"]}


def _row(name: str, result: dict) -> str:
    def share(d: dict) -> str:
        return str(Share(d["count"], d["total"]))

    rounds = "  ".join(share(d) for d in result["valid_after_round"][1:])
    seconds = result["seconds_per_valid_novel_applied"]
    tokens = result["tokens_per_valid_novel_applied"]
    cost = "n/a" if seconds == float("inf") else f"{tokens:,.0f} tok, {seconds:,.0f} s"
    return (
        f"{name:<11} raw {share(result['valid_raw'])}  fixes {share(result['valid_after_fixes'])}"
        f"  rounds {rounds}  VNA {share(result['valid_novel_applied'])}  per VNA {cost}"
        f"  asked again {result['asked_again']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ideas", type=int, default=20)
    parser.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b")
    parser.add_argument("--parent", default="VGG", help="zoo model every idea is applied to")
    parser.add_argument("--configs", default="today,new")
    parser.add_argument("--ablation", action="store_true", help="also each lever off in turn")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--out", default=str(REPO_ROOT / "var" / "bench" / "search_repair.json"))
    args = parser.parse_args()
    generations = {"today": TODAY, "new": NEW}
    names = args.configs.split(",") + (list(ABLATIONS) if args.ablation else [])
    parent_code = (REPO_ROOT / "search_core" / "zoo" / "models" / f"{args.parent}.py").read_text()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict]] = {}
    for model in args.models.split(","):
        results[model] = {}
        for name in names:
            generation = generations.get(name, ABLATIONS.get(name, {}))
            config = _config(name, generation, args.ideas, args.parent)
            results[model][name] = _measure(model, name, config, parent_code, args.threads)
            out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
        print(f"\n{model}, {args.ideas} ideas on {args.parent}, {ROUNDS} repair rounds, seed 2026")
        for name, result in results[model].items():
            print(_row(name, result))
        today, new = results[model].get("today"), results[model].get("new")
        if today and new:
            a, b = new["seconds_per_valid_novel_applied"], today["seconds_per_valid_novel_applied"]
            ratio = a / b if b not in (0, float("inf")) and a != float("inf") else float("nan")
            print(f"LLM seconds per VNA, new/today: {ratio:.2f}")


if __name__ == "__main__":
    main()
