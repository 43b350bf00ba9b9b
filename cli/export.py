"""`nasforge export SEARCH [--best N] --to DIR [--format nasforge|lemur]`: a search's best
models (by validation score) as files, read through the public API with a token.

Each model gets its module, its verified weights, hyperparameters, per-epoch figures, its
record and a manifest of checksums (cli.exports.model_files says the two layouts). Models
whose weights the trainer no longer keeps are exported without them, and named here.
"""

import argparse
import asyncio
import tempfile
from pathlib import Path

from cli.common import UsageError, add_connection_arguments, connection_from_args


def register(commands) -> None:
    parser = commands.add_parser(
        "export", help="write a search's best models: code, weights, figures, manifest"
    )
    parser.add_argument("search_id")
    parser.add_argument("--to", type=Path, required=True, help="a new or empty folder")
    parser.add_argument("--best", type=int, help="only the N best by validation score")
    parser.add_argument(
        "--format",
        choices=("nasforge", "lemur"),
        default="nasforge",
        help="nasforge: one folder per model; lemur: LEMUR nn-dataset's ab/nn tree",
    )
    add_connection_arguments(parser, "--target", "search_core", client_certificate=False)
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Exit 0 when every chosen model was written (with or without weights)."""
    from cli.exports.model_files import ExportError, gather_models, weights_downloader, write_models
    from nasforge.client import AsyncSearchClient

    if args.best is not None and args.best < 1:
        raise UsageError("--best must be at least 1")
    target, token, tls = connection_from_args(args, "search_core")

    async def fetch():
        async with AsyncSearchClient(target, token, tls=tls) as client:
            search = await client.get(args.search_id)
            candidates = await client.candidates(args.search_id)
            with tempfile.TemporaryDirectory(prefix="nasforge-export-") as folder:
                download = weights_downloader(client, Path(folder))
                return search, await gather_models(candidates, download, best=args.best)

    try:
        search, models = asyncio.run(fetch())
        exported = write_models(search, models, args.to, args.format)
    except ExportError as exc:
        raise UsageError(str(exc)) from exc
    for model in exported:
        weights = "weights" if model.weights else f"no weights ({model.weights_note})"
        print(f"{model.name}  validation {model.validation:.4f}  {weights}")
    print(f"{len(exported)} models written to {args.to} ({args.format} layout)")
    return 0
