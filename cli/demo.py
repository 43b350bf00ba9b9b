"""`nasforge demo` (run by `make demo`): the main job on a local stack.

Starts every service on 127.0.0.1 with the embedded LLM, then runs the first seed of the
comparison in demo/compare.toml (LLM-guided FairNAD beside FairNAD with the template
generator, random search, regularized evolution and the zoo's hand-written models, one
budget for all) and a short NN-Caption campaign with the same LLM; it ends with the
comparison's table and plot, the campaign's report, and stops the stack.
"""

import argparse
import asyncio
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cli.report import write_search_report

COMPARISON = "compare.toml"
CAMPAIGN = "nn_caption.toml"

if TYPE_CHECKING:  # rich, the gRPC client and the stack load only when the demo runs
    from rich.console import Console

    from localstack import LocalStack


def register(commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="the main job: LLM-guided FairNAD against its baselines at one budget and an "
        "NN-Caption campaign on a local stack, then the comparison and the report",
    )
    demo.add_argument("--config-dir", type=Path, default=Path("demo"))
    demo.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return run_demo(args.config_dir)


def run_demo(config_dir: Path, *, model: str = "qwen2.5-coder-0.5b") -> int:
    from rich.console import Console

    from cli.compare import run_compare
    from cli.compare.command import connect
    from cli.compare.config import load_compare_config
    from localstack import LocalStack
    from search_core.search_config import load_config

    console = Console()
    comparison = load_compare_config(config_dir / COMPARISON)
    campaign = load_config(config_dir / CAMPAIGN)
    started = time.monotonic()
    # Each run has its own store: duplicates are judged per tenant across searches, so a
    # rerun in the first run's store would find every candidate already made.
    run = Path("var/demo") / time.strftime("run-%Y%m%d-%H%M%S", time.gmtime())
    # The LLM's answers are recorded: `nasforge compare demo/compare.toml --local --seeds 1
    # --llm-answers <run>/llm-answers --llm-mode replay` reruns the comparison without the model.
    recording = {
        "NASFORGE_GATEWAY_RECORD_DIR": str((run / "llm-answers").resolve()),
        "NASFORGE_GATEWAY_RECORD_MODE": "record",
    }
    stack = LocalStack(directory=run, model=model, extra_env={"llm_gateway": recording})
    signal.signal(signal.SIGTERM, _interrupt)  # stop the stack on SIGTERM too, not only Ctrl-C
    stack.start()
    console.print(
        f"[bold]local stack up[/] in {time.monotonic() - started:.0f} s (logs in {stack.directory})"
    )
    try:
        factory = connect(stack.target("search_core"), stack.tenant_token, stack.public_tls)
        compared = run_compare(
            config_dir / COMPARISON, run / "compare", factory, seeds=comparison.seeds[:1]
        )
        campaign_id, campaign_state = asyncio.run(_run_campaign(stack, campaign, console))
    finally:
        stack.stop()
    report = write_search_report(
        str(stack.directory / "nasforge.db"), [campaign_id], run / "report"
    )
    console.print(f"searches finished in {(time.monotonic() - started) / 60:.1f} min")
    console.print((run / "compare" / "report.md").read_text(), markup=False)
    console.print(f"[bold]comparison:[/] {compared.report.resolve()}")
    console.print(f"[bold]NN-Caption campaign report:[/] {report.resolve()}")
    return 0 if compared.all_succeeded and campaign_state == "succeeded" else 1


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


async def _run_campaign(stack: "LocalStack", config, console: "Console") -> tuple[str, str]:
    from cli.search_client import SearchClient

    async with SearchClient(
        stack.target("search_core"), stack.tenant_token, console, tls=stack.public_tls
    ) as client:
        search_id = await client.submit(config.to_dict())
        console.rule(f"{config.name or config.method.value} ({search_id})")
        state = await client.watch_with_progress(search_id)
        await client.print_leaderboard(search_id)
        return search_id, state
