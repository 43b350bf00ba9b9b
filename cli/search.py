"""`nasforge search run|watch|leaderboard`, `nasforge report`, `nasforge stack`, `nasforge demo`.

`search` commands are gRPC clients of search_core, written the way another team would
write one: the protos and a token. Without --target they use the local stack that
`nasforge stack up` (or `make demo`) started, as described in var/stack/stack.json.
"""

import argparse
import asyncio
import json
import os
from pathlib import Path

from cli.train import UsageError

STATE_NAMES = {1: "queued", 2: "running", 3: "succeeded", 4: "failed", 5: "cancelled", 6: "paused"}
TERMINAL = {3, 4, 5}


def add_parsers(commands) -> None:
    from cli.stack import add_tls_arguments

    search = commands.add_parser("search", help="run and inspect searches (a search_core client)")
    sub = search.add_subparsers(dest="search_command", required=True, parser_class=type(search))
    run = sub.add_parser("run", help="submit a search from a TOML/YAML/JSON config and watch it")
    run.add_argument("config", type=Path)
    run.add_argument("--no-wait", action="store_true", help="print the search id and return")
    watch = sub.add_parser("watch", help="watch a search until it ends")
    watch.add_argument("search_id")
    board = sub.add_parser("leaderboard", help="the best candidates of a search")
    board.add_argument("search_id")
    board.add_argument("--limit", type=int, default=10)
    for parser in (run, watch, board):
        parser.add_argument("--target", help="search_core address (default: the local stack)")
        parser.add_argument("--token-file", type=Path, help="file holding the bearer token")
        add_tls_arguments(parser, client_certificate=False)
        parser.set_defaults(handler=_run_search_command)

    report = commands.add_parser("report", help="write a Markdown report with plots")
    report.add_argument("search_ids", nargs="+", metavar="SEARCH")
    report.add_argument(
        "--store", help="store URL (default: $NASFORGE_SEARCH_STORE_URL, else var/nasforge.db)"
    )
    report.add_argument("--out", type=Path, default=Path("var/reports"))
    report.set_defaults(handler=_run_report)

    stack = commands.add_parser("stack", help="run every service locally until Ctrl-C")
    stack.add_argument("--model", default="qwen2.5-coder-0.5b")
    stack.add_argument("--no-llm", action="store_true", help="no embedded model server")
    stack.set_defaults(handler=_run_stack)

    demo = commands.add_parser(
        "demo",
        help="the main job: a FairNAD search and an NN-Caption "
        "campaign on a local stack, then the leaderboard and report",
    )
    demo.add_argument("--config-dir", type=Path, default=Path("demo"))
    demo.set_defaults(handler=_run_demo)


def _run_search_command(args: argparse.Namespace) -> int:
    from cli.search_client import SearchClient
    from cli.stack import connection, tls_from_args

    target, token, tls = connection(
        "search_core",
        args.target,
        args.token_file,
        tls=tls_from_args(args),
        plaintext=args.plaintext,
    )

    async def go() -> int:
        async with SearchClient(target, token, tls=tls) as client:
            if args.search_command == "run":
                search_id = await client.submit_file(args.config)
                print(f"search {search_id}")
                if args.no_wait:
                    return 0
                state = await client.watch_with_progress(search_id)
                await client.print_leaderboard(search_id)
                return 0 if state == "succeeded" else 1
            if args.search_command == "watch":
                state = await client.watch_with_progress(args.search_id)
                return 0 if state == "succeeded" else 1
            await client.print_leaderboard(args.search_id, args.limit)
            return 0

    return asyncio.run(go())


def write_search_report(store_url: str, search_ids: list[str], out: Path) -> Path:
    """Read the searches from the store and write the report; the Markdown's path."""
    from search_core.report import write_report
    from search_core.store import open_store
    from search_core.zoo import builtin_models

    store = open_store(store_url)
    try:
        known = {search.search_id: search for search in store.list_searches(None)}
        searches = []
        for search_id in search_ids:
            if search_id not in known:
                raise UsageError(f"no search {search_id!r} in {store_url}")
            searches.append((known[search_id], store.search_candidates(search_id)))
        baselines = {
            m.name: m.metrics["bleu4_corpus"]
            for m in builtin_models()
            if "bleu4_corpus" in m.metrics
        }
        return write_report(searches, out, baselines=baselines)
    finally:
        store.close()


def _run_report(args: argparse.Namespace) -> int:
    from cli.zoo import store_url

    path = write_search_report(store_url(args), args.search_ids, args.out)
    print(f"report: {path}")
    return 0


def _run_stack(args: argparse.Namespace) -> int:
    import signal

    from cli.stack import LocalStack
    from cli.zoo import DEFAULT_STORE_URL

    url = os.environ.get("NASFORGE_SEARCH_STORE_URL", DEFAULT_STORE_URL)
    stack = LocalStack(model=args.model, store_url=url).start(with_llm=not args.no_llm)
    print(json.dumps({n: p.port for n, p in stack.processes.items()}), flush=True)
    print("local stack up; Ctrl-C stops it", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        stack.stop()
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return run_demo(args.config_dir)
