"""Record real answers of an embedded model for the answers corpus (tests/fixtures/llm_answers).

    .venv/bin/python -m bench.record_answers --model var/models/qwen2.5-coder-0.5b.gguf --ideas 8

For `--ideas` fairly sampled ideas of the default knowledge tree (seeded), renders FairNAD's
apply-idea prompt in both generation modes ("whole": the whole module, "edit": the changes
only) for a zoo parent, runs the model greedily in-process with llama.cpp (no server), and
writes one JSON file per answer: the model, the prompt's name, the mode, the parent, the idea,
the sampling, the raw text, the token counts and the seconds. The unit tests of the merge,
the fixes and the similarity check run on these recorded answers, never on a live model.
"""

import argparse
import json
import random
import re
import threading
import time
from pathlib import Path

from llm_gateway.embedded.engine import GenerateParams, LlamaEngine
from llm_gateway.prompts.library import PromptLibrary
from search_core.knowledge.sampling import FairIdeaSampler
from search_core.knowledge.tree import KnowledgeTree

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = REPO_ROOT / "tests" / "fixtures" / "llm_answers"
TEMPLATES = {"whole": "fairnad_apply_idea", "edit": "fairnad_apply_idea_edit"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("var/models/qwen2.5-coder-0.5b.gguf"))
    parser.add_argument("--ideas", type=int, default=8)
    parser.add_argument("--parent", default="VGG")
    parser.add_argument("--modes", default="edit,whole")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--max-new-tokens", type=int, default=1200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    engine = LlamaEngine(args.model, n_ctx=8192, threads=args.threads)
    library = PromptLibrary.load()
    parent_code = (REPO_ROOT / "search_core" / "zoo" / "models" / f"{args.parent}.py").read_text()
    sampler = FairIdeaSampler(KnowledgeTree.default(), random.Random(args.seed))
    ideas = [sampler.sample() for _ in range(args.ideas)]
    out = CORPUS / engine.model_id
    out.mkdir(parents=True, exist_ok=True)
    for number, (category, attribute) in enumerate(ideas, start=1):
        for mode in args.modes.split(","):
            template = library.get(TEMPLATES[mode])
            turns = template.render(
                {
                    "parent_code": parent_code,
                    "category": category.name,
                    "idea": attribute.name,
                    "idea_description": attribute.description,
                    "dataset": "fashion-mnist",
                    "image_size": "28",
                    "num_classes": "10",
                },
                {},
            )
            prompt = engine.chat_prompt([{"role": t.role, "content": t.content} for t in turns])
            tokens = engine.tokenize(prompt)
            params = GenerateParams(max_new_tokens=args.max_new_tokens, seed=args.seed)
            started = time.monotonic()
            pieces = list(engine.generate(tokens, params, threading.Event()))
            seconds = time.monotonic() - started
            record = {
                "model": engine.model_id,
                "prompt": template.name,
                "mode": mode,
                "parent": args.parent,
                "idea": {"category": category.name, "attribute": attribute.name},
                "sampling": {"greedy": True, "max_new_tokens": args.max_new_tokens},
                "prompt_tokens": len(tokens),
                "generated_tokens": len(pieces),
                "finish_reason": str(pieces[-1].finish) if pieces else "",
                "seconds": round(seconds, 1),
                "answer": "".join(p.text for p in pieces if not p.special),
            }
            path = out / f"{number:02d}-{mode}-{_slug(attribute.name)}.json"
            path.write_text(json.dumps(record, indent=1) + "\n")
            print(f"{path.name}: {len(tokens)} prompt, {len(pieces)} new tokens, {seconds:.0f} s")


if __name__ == "__main__":
    main()
