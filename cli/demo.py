"""`nasforge demo` (run by `make demo`): the main job on a local stack.

Starts every service on 127.0.0.1, runs a FairNAD search and the random baseline with the
same budget on Fashion-MNIST (template generator), then a short NN-Caption campaign with
the embedded LLM, prints the leaderboards, writes the report and stops the stack.
"""

import argparse
import asyncio
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cli.report import write_search_report

CONFIGS = ("fairnad.toml", "random.toml", "nn_caption.toml")

if TYPE_CHECKING:  # rich, the gRPC client and the stack load only when the demo runs
    from rich.console import Console

    from localstack import LocalStack


def register(commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="the main job: a FairNAD search and an NN-Caption "
        "campaign on a local stack, then the leaderboard and report",
    )
    demo.add_argument("--config-dir", type=Path, default=Path("demo"))
    demo.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return run_demo(args.config_dir)


def run_demo(config_dir: Path, *, model: str = "qwen2.5-coder-0.5b") -> int:
    from rich.console import Console

    from localstack import LocalStack
    from search_core.search_config import load_config

    console = Console()
    configs = [load_config(config_dir / name) for name in CONFIGS]
    started = time.monotonic()
    # Each run has its own store: duplicates are judged per tenant across searches, so a
    # rerun in the first run's store would find every candidate already made.
    run = Path("var/demo") / time.strftime("run-%Y%m%d-%H%M%S", time.gmtime())
    stack = LocalStack(directory=run, model=model)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the stack on SIGTERM too, not only Ctrl-C
    stack.start()
    console.print(
        f"[bold]local stack up[/] in {time.monotonic() - started:.0f} s (logs in {stack.directory})"
    )
    try:
        search_ids, states = asyncio.run(_run_searches(stack, configs, console))
    finally:
        stack.stop()
    report = write_search_report(str(stack.directory / "nasforge.db"), search_ids, run / "report")
    elapsed = time.monotonic() - started
    console.print(
        f"searches finished in {elapsed / 60:.1f} min: {dict(zip(search_ids, states, strict=True))}"
    )
    console.print(f"[bold]report:[/] {report.resolve()}")
    return 0 if all(state == "succeeded" for state in states) else 1


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


async def _run_searches(stack: "LocalStack", configs, console: "Console"):
    from cli.search_client import SearchClient

    async with SearchClient(
        stack.target("search_core"), stack.tenant_token, console, tls=stack.public_tls
    ) as client:
        search_ids = [await client.submit(config.to_dict()) for config in configs]
        states = []
        for config, search_id in zip(configs, search_ids, strict=True):
            console.rule(f"{config.name or config.method.value} ({search_id})")
            states.append(await client.watch_with_progress(search_id))
            await client.print_leaderboard(search_id)
        return search_ids, states
