"""`nasforge compare CONFIG`: run several methods with several seeds, equal budgets, one report.

Against a given search_core (--target), the running local stack (neither option), or a local
stack started for the comparison and stopped after it (--local). Every run judges duplicates
within its own search (the config sets duplicate_scope), so runs sharing a tenant stay
independent of each other.
"""

import argparse
import asyncio
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from cli.common import UsageError, add_connection_arguments, connection_from_args
from cli.compare.config import CompareConfig, load_compare_config
from cli.compare.gather import ClientFactory
from cli.compare.records import RunResult


@dataclass(frozen=True)
class CompareOutput:
    report: Path
    runs: tuple[RunResult, ...]

    @property
    def all_succeeded(self) -> bool:
        return all(run.state == "succeeded" for run in self.runs)


def register(commands) -> None:
    parser = commands.add_parser(
        "compare",
        help="run methods x seeds with one budget through search_core and write a comparison",
    )
    parser.add_argument("config", type=Path, help="compare config (TOML), e.g. demo/compare.toml")
    parser.add_argument(
        "--local",
        action="store_true",
        help="start a local stack for the comparison and stop it afterwards",
    )
    parser.add_argument("--out", type=Path, help="report folder (default: var/compare/NAME-TIME)")
    parser.add_argument(
        "--seeds",
        type=_seed_list,
        help="run only these of the config's seeds, e.g. 1 or 1,3 (a quick look; the "
        "intervals need several)",
    )
    parser.add_argument(
        "--llm-answers",
        type=Path,
        help="with --local: the folder the gateway records the LLM's answers in, or replays "
        "them from (see --llm-mode)",
    )
    parser.add_argument(
        "--llm-mode",
        choices=("record", "replay", "record-missing"),
        default="record",
        help="with --llm-answers: record every answer (default), replay recorded answers "
        "without asking the model (a missing one fails its candidate), or replay what is "
        "recorded and ask for the rest",
    )
    add_connection_arguments(parser, "--target", "search_core", client_certificate=False)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    """Exit 0 when every search succeeded, 1 when one did not (the report is written anyway)."""
    config = load_compare_config(args.config)
    out = args.out or default_out(config.name)
    if args.local:
        if args.target:
            raise UsageError("--local starts its own stack: give it or --target, not both")
        with local_stack(config, out / "stack", answers(args)) as factory:
            output = run_compare(args.config, out, factory, seeds=args.seeds)
    else:
        factory = connect(*connection_from_args(args, "search_core"))
        output = run_compare(args.config, out, factory, seeds=args.seeds)
    print(f"report: {output.report.resolve()}")
    return 0 if output.all_succeeded else 1


def run_compare(
    config_path: Path,
    out: Path,
    client_factory: ClientFactory,
    *,
    seeds: tuple[int, ...] | None = None,
    console=None,
) -> CompareOutput:
    """Run the comparison of `config_path` through the client `client_factory` opens (see
    `connect`) and write the report into `out`. The core of `nasforge compare`, callable
    from tests with any stack."""
    from rich.console import Console

    from cli.compare.gather import gather_runs
    from cli.compare.render import write_report
    from cli.compare.stats import compare

    config = only_seeds(load_compare_config(config_path), seeds)
    runs = asyncio.run(
        gather_runs(config.runs(), config.task_name, client_factory, console or Console())
    )
    report = write_report(compare(config, runs), out)
    return CompareOutput(report, tuple(runs))


def only_seeds(config: CompareConfig, seeds: tuple[int, ...] | None) -> CompareConfig:
    """The comparison restricted to `seeds` (None: all of them); each must be the config's."""
    if seeds is None:
        return config
    unknown = sorted(set(seeds) - set(config.seeds))
    if unknown:
        raise UsageError(f"seeds {unknown} are not among the config's seeds {list(config.seeds)}")
    return replace(config, seeds=tuple(s for s in config.seeds if s in seeds))


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"seeds are integers separated by commas: {text!r}"
        ) from exc


def connect(target: str, token: str, tls) -> ClientFactory:
    """A SearchClient of search_core at `target`, opened inside the comparison's event loop."""
    from cli.search_client import SearchClient

    return lambda: SearchClient(target, token, tls=tls)


def answers(args: argparse.Namespace) -> dict[str, str]:
    """The gateway's recording settings for a local stack: a rerun with the same seeds and
    `--llm-mode replay` gets the first run's answers instead of asking the model again."""
    if args.llm_answers is None:
        return {}
    if not args.local:
        raise UsageError("--llm-answers sets up the gateway of a --local stack")
    return {
        "NASFORGE_GATEWAY_RECORD_DIR": str(args.llm_answers.resolve()),
        "NASFORGE_GATEWAY_RECORD_MODE": args.llm_mode,
    }


@contextmanager
def local_stack(
    config: CompareConfig, directory: Path, gateway_env: dict[str, str] | None = None
) -> Iterator[ClientFactory]:
    """A local stack for the comparison (with the LLM only if a method uses it), stopped on
    leaving, SIGTERM included."""
    from localstack import LocalStack

    stack = LocalStack(directory=directory, extra_env={"llm_gateway": dict(gateway_env or {})})
    signal.signal(signal.SIGTERM, _interrupt)
    stack.start(with_llm=any(run.search_config["generator"] == "llm" for run in config.runs()))
    try:
        yield connect(stack.target("search_core"), stack.tenant_token, stack.public_tls)
    finally:
        stack.stop()


def default_out(name: str) -> Path:
    """A new folder per comparison: a local rerun then starts from a fresh store."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "compare"
    return Path("var/compare") / f"{slug}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
