"""`nasforge search run|watch|list|leaderboard|cancel|pause|resume|optuna|mlflow|tensorboard`:
a gRPC client of search_core.

Written the way another team would write one: the protos and a token. Without --target
the commands use the local stack that `nasforge stack` (or `make demo`) started, as
described in var/stack/stack.json.
"""

import argparse
import asyncio
from pathlib import Path

from cli.common import add_connection_arguments, connection_from_args

STATE_NAMES = ("queued", "running", "paused", "succeeded", "failed", "cancelled")
METHOD_NAMES = (
    "nn_caption",
    "fairnad",
    "random",
    "regularized_evolution",
    "reference",
    "reproduce",
)
CONTROLS = {  # any replica serves them: the replica that runs the search carries them out
    "cancel": "end a search (its finished candidates are kept)",
    "pause": "stop a search where it is until `resume`",
    "resume": "queue a paused search again",
}


def register(commands) -> None:
    search = commands.add_parser("search", help="run and inspect searches (a search_core client)")
    sub = search.add_subparsers(dest="search_command", required=True, parser_class=type(search))
    run = sub.add_parser("run", help="submit a search from a TOML/YAML/JSON config and watch it")
    run.add_argument("config", type=Path)
    run.add_argument("--no-wait", action="store_true", help="print the search id and return")
    watch = sub.add_parser("watch", help="watch a search until it ends")
    watch.add_argument("search_id")
    listing = sub.add_parser("list", help="your searches, newest first")
    listing.add_argument(
        "--state", action="append", default=[], choices=STATE_NAMES, help="repeatable"
    )
    listing.add_argument(
        "--method", action="append", default=[], choices=METHOD_NAMES, help="repeatable"
    )
    listing.add_argument("--limit", type=int, default=50)
    board = sub.add_parser("leaderboard", help="the best candidates of a search")
    board.add_argument("search_id")
    board.add_argument("--limit", type=int, default=10)
    study = sub.add_parser("optuna", help="write a search as an Optuna study (optuna-dashboard)")
    study.add_argument("search_id")
    study.add_argument("--storage", required=True, help="an Optuna RDB URL: sqlite:///study.db")
    study.add_argument("--study", default="", help="the study's name (default: the search id)")
    tracking = sub.add_parser("mlflow", help="write a search as MLflow runs (one per candidate)")
    tracking.add_argument("search_id")
    tracking.add_argument(
        "--tracking-uri", required=True, help="sqlite:///mlflow.db or http://host:5000"
    )
    tracking.add_argument("--experiment", default="", help="default: the search id")
    tracking.add_argument("--artifact-location", help="a new experiment's artifact root")
    events = sub.add_parser("tensorboard", help="write a search as TensorBoard event files")
    events.add_argument("search_id")
    events.add_argument("--logdir", type=Path, required=True, help="one folder per candidate")
    controls = []
    for name, text in CONTROLS.items():
        control = sub.add_parser(name, help=text)
        control.add_argument("search_id")
        controls.append(control)
    for parser in (run, watch, listing, board, study, tracking, events, *controls):
        add_connection_arguments(parser, "--target", "search_core", client_certificate=False)
        parser.set_defaults(handler=run_search_command)


def run_search_command(args: argparse.Namespace) -> int:
    """Exit 0 when the search succeeded (or was only submitted, listed or controlled), else 1."""
    from cli.search_client import SearchClient
    from nasforge.search_core.v1 import search_core_pb2 as pb

    target, token, tls = connection_from_args(args, "search_core")

    async def go() -> int:
        async with SearchClient(target, token, tls=tls) as client:
            if args.search_command == "run":
                search_id = await client.submit(args.config)
                print(f"search {search_id}")
                if args.no_wait:
                    return 0
                state = await client.watch_with_progress(search_id)
                await client.print_leaderboard(search_id)
                return 0 if state == "succeeded" else 1
            if args.search_command == "list":
                searches = await client.list_searches(args.state, args.method, args.limit)
                await client.print_searches(searches)
                return 0
            if args.search_command == "optuna":
                from cli.exports.optuna_study import write_study

                search = await client.stub.GetSearch(pb.GetSearchRequest(search_id=args.search_id))
                candidates = await client.candidates(args.search_id)
                written = write_study(search.search, candidates, args.storage, args.study)
                print(f"study {written.study_name}: {len(candidates)} trials in {args.storage}")
                return 0
            if args.search_command == "mlflow":
                from cli.exports.mlflow_runs import export_search

                export = await export_search(
                    client,
                    args.search_id,
                    args.tracking_uri,
                    args.experiment,
                    args.artifact_location,
                )
                counts = export.counts
                print(
                    f"experiment {export.experiment_name}: {counts.written} runs written "
                    f"({counts.replaced} replacing unfinished ones), {counts.skipped} already there"
                )
                return 0
            if args.search_command == "tensorboard":
                from cli.exports.tensorboard_events import export_search

                folders = await export_search(client, args.search_id, args.logdir)
                print(f"{len(folders)} runs in {args.logdir}: tensorboard --logdir {args.logdir}")
                return 0
            if args.search_command in CONTROLS:
                state = await client.control(args.search_command, args.search_id)
                print(f"search {args.search_id}: {state}")
                return 0
            if args.search_command == "watch":
                state = await client.watch_with_progress(args.search_id)
                return 0 if state == "succeeded" else 1
            await client.print_leaderboard(args.search_id, args.limit)
            return 0

    return asyncio.run(go())
