"""Speculative decoding on the embedded server's engine: the 1.5B model alone, with the 0.5B
drafting for it, and (optionally) with prompt lookup, on the same code-editing prompt.

    make bench-speculative    (or: .venv/bin/python -m bench.speculative [--threads 2]
                               [--max-tokens 256] [--draft-tokens 4] [--prompt-lookup 0])

The prompt is a zoo model's file (VGG) with the request to add a squeeze-and-excitation block
and answer with the whole file: the kind of answer the search asks for, mostly a copy of the
prompt with one change. Each configuration loads a fresh engine (llm_gateway.embedded.engine)
and generates greedily once, so each pays its own prompt evaluation (a draft model evaluates
the prompt too, after the first token). Prints, per configuration, tokens a second after the
first token and over the whole answer, their ratios to the plain model's measured in this run,
the tokens each pass of the 1.5B yields, and whether the answer is the plain model's (greedy
speculative decoding must not change it); asserts nothing.
"""

import argparse
import gc
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from llama_cpp.llama_speculative import LlamaDraftModel

from llm_gateway.embedded.engine import GenerateParams, LlamaEngine

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL = REPO_ROOT / "var" / "models" / "qwen2.5-coder-1.5b.gguf"
DRAFT = REPO_ROOT / "var" / "models" / "qwen2.5-coder-0.5b.gguf"
ZOO_FILE = REPO_ROOT / "search_core" / "zoo" / "models" / "VGG.py"
REQUEST = (
    "Add a squeeze-and-excitation block after every convolution stage of this PyTorch model "
    "(reduction 8). Keep everything else as it is. Answer with the whole file in one python "
    "code block.\n\n```python\n{code}```"
)


@dataclass
class Run:
    """One configuration's generation."""

    name: str
    tokens: list[int]
    prompt_tokens: int
    first_token_s: float
    total_s: float
    target_passes: int | None  # verification rounds; None without a draft

    @property
    def decode_tokens_per_s(self) -> float:
        return (len(self.tokens) - 1) / max(self.total_s - self.first_token_s, 1e-9)

    @property
    def tokens_per_s(self) -> float:
        return len(self.tokens) / self.total_s


class CountedDraft(LlamaDraftModel):
    """Counts the calls to a draft: Llama.generate makes one per pass of the target model."""

    def __init__(self, draft: LlamaDraftModel) -> None:
        self.draft = draft
        self.calls = 0

    def __call__(self, input_ids: np.ndarray, /, **kwargs) -> np.ndarray:
        self.calls += 1
        return self.draft(input_ids, **kwargs)


def generate(name: str, request: str, max_tokens: int, n_ctx: int, **engine_args) -> Run:
    engine = LlamaEngine(MODEL, n_ctx=n_ctx, **engine_args)
    counted = None
    if engine._llm.draft_model is not None:  # a bench may look inside: it counts passes
        counted = CountedDraft(engine._llm.draft_model)
        engine._llm.draft_model = counted
    prompt = engine.tokenize(engine.chat_prompt([{"role": "user", "content": request}]))
    tokens, first = [], 0.0
    started = time.perf_counter()
    for token in engine.generate(prompt, GenerateParams(max_tokens), threading.Event()):
        if not tokens:
            first = time.perf_counter() - started
        tokens.append(token.id)
    total = time.perf_counter() - started
    # The first token comes from the prompt's pass; each draft call precedes another pass.
    passes = None if counted is None else 1 + counted.calls
    run = Run(name, tokens, len(prompt), first, total, passes)
    del engine
    gc.collect()  # one model pair in memory at a time
    return run


def first_difference(a: list[int], b: list[int]) -> int | None:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def report(run: Run, plain: Run) -> dict:
    difference = first_difference(run.tokens, plain.tokens)
    return {
        "name": run.name,
        "prompt_tokens": run.prompt_tokens,
        "tokens": len(run.tokens),
        "first_token_s": round(run.first_token_s, 2),
        "total_s": round(run.total_s, 2),
        "decode_tokens_per_s": round(run.decode_tokens_per_s, 2),
        "tokens_per_s": round(run.tokens_per_s, 2),
        "decode_ratio": round(run.decode_tokens_per_s / plain.decode_tokens_per_s, 3),
        "ratio": round(run.tokens_per_s / plain.tokens_per_s, 3),
        "tokens_per_target_pass": (
            round(len(run.tokens) / run.target_passes, 2) if run.target_passes else None
        ),
        "same_as_plain": difference is None,
        "first_difference_at": difference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads, each model")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--draft-tokens", type=int, default=4, help="the 0.5B's guesses a pass")
    parser.add_argument(
        "--prompt-lookup", type=int, default=0, help="also prompt lookup of this many; 0: skip"
    )
    args = parser.parse_args()
    for path in (MODEL, DRAFT):
        if not path.is_file():
            raise SystemExit(f"no model at {path}: NASFORGE_LLM_MODEL=... scripts/install_llm.sh")
    request = REQUEST.format(code=ZOO_FILE.read_text())
    n_ctx = 2048 + args.max_tokens  # the prompt is about 700 tokens
    common = {"request": request, "max_tokens": args.max_tokens, "n_ctx": n_ctx}
    plain = generate("1.5B plain", threads=args.threads, **common)
    runs = [
        plain,
        generate(
            f"1.5B + 0.5B draft ({args.draft_tokens})",
            threads=args.threads,
            draft_model_path=DRAFT,
            draft_tokens=args.draft_tokens,
            **common,
        ),
    ]
    if args.prompt_lookup:
        runs.append(
            generate(
                f"1.5B + prompt lookup ({args.prompt_lookup})",
                threads=args.threads,
                prompt_lookup_tokens=args.prompt_lookup,
                **common,
            )
        )
    print(
        f"\nspeculative decoding, Qwen2.5-Coder 1.5B, greedy, {args.threads} threads, "
        f"{plain.prompt_tokens}-token prompt (VGG + add an SE block), up to {args.max_tokens} "
        "tokens; tok/s after the first token (ratio to plain) | over the whole answer"
    )
    for run in runs:
        r = report(run, plain)
        per_pass = r["tokens_per_target_pass"]
        same = "yes" if r["same_as_plain"] else f"no (from token {r['first_difference_at']})"
        print(
            f"  {run.name:32} {r['tokens']:4d} tokens  {r['decode_tokens_per_s']:6.2f} tok/s "
            f"({r['decode_ratio']:.2f}) | {r['tokens_per_s']:6.2f} tok/s ({r['ratio']:.2f})  "
            f"first token {r['first_token_s']:5.1f}s  "
            + (f"{per_pass:.2f} tokens/pass  " if per_pass else "")
            + f"same as plain: {same}"
        )
    for run in runs:
        print(json.dumps(report(run, plain)))


if __name__ == "__main__":
    main()
