"""`nasforge zoo`: list the model zoo, seed it with the built-in models, import LEMUR models."""

import argparse
import json

from cli.common import UsageError, add_store_argument, open_store, store_url
from netapi.tasks import TASKS

# The store (sqlite3/psycopg) and the LEMUR reader load only when a zoo command runs.


def register(commands) -> None:
    zoo = commands.add_parser("zoo", help="the model zoo: list, seed, import from LEMUR")
    zoo_commands = zoo.add_subparsers(dest="zoo_command", required=True, parser_class=type(zoo))

    listing = zoo_commands.add_parser("list", help="list the zoo's models")
    listing.add_argument("--task", choices=TASKS, help="only models of this task")
    listing.add_argument("--builtin", action="store_true", help="the built-in models, no store")
    add_store_argument(listing)
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    listing.set_defaults(handler=run_list)

    seed = zoo_commands.add_parser("seed", help="put the built-in models into the store")
    add_store_argument(seed)
    seed.set_defaults(handler=run_seed)

    lemur = zoo_commands.add_parser(
        "import-lemur", help="import models from a LEMUR SQLite database (read-only)"
    )
    lemur.add_argument("file", help="LEMUR database file, e.g. db/ab.nn.db")
    add_store_argument(lemur)
    lemur.add_argument("--json", action="store_true", help="print the import report as JSON")
    lemur.set_defaults(handler=run_import_lemur)


def _row(model) -> dict:
    return {
        "name": model.name,
        "task": model.task,
        "family": model.family,
        "source": model.source,
        "code_md5": model.code_md5,
        "metrics": model.metrics,
    }


def run_list(args: argparse.Namespace) -> int:
    if args.builtin:
        from search_core.zoo import builtin_models

        models = builtin_models(args.task)
    else:
        store = open_store(args)
        try:
            models = store.list_zoo_models(args.task)
        finally:
            store.close()
    if args.json:
        print(json.dumps([_row(model) for model in models]))
        return 0
    for model in models:
        accuracy = model.metrics.get("accuracy")
        score = f"  accuracy {accuracy:.4f}" if accuracy is not None else ""
        print(f"{model.name:24} {model.task:20} {model.source:24} {model.code_md5[:8]}{score}")
    if not models and not args.builtin:
        print(
            f"the zoo in {store_url(args)} is empty: `nasforge zoo seed` adds the built-in models"
        )
    return 0


def run_seed(args: argparse.Namespace) -> int:
    from search_core.zoo import builtin_models, seed_zoo

    store = open_store(args)
    try:
        put = seed_zoo(store)
    finally:
        store.close()
    kept = sorted({model.name for model in builtin_models()} - set(put))
    print(f"seeded {len(put)} built-in models into {store_url(args)}")
    if kept:
        print(f"kept the store's own models of the same name: {', '.join(kept)}")
    return 0


def run_import_lemur(args: argparse.Namespace) -> int:
    from search_core.zoo.lemur import LemurFormatError, read_lemur

    try:
        report = read_lemur(args.file)
    except LemurFormatError as exc:
        raise UsageError(str(exc)) from exc
    store = open_store(args)
    try:
        report.put_into(store)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(
        f"imported {report.imported} of {report.rows} models from {args.file} "
        f"into {store_url(args)}"
    )
    for skipped in report.skipped:
        print(f"  skipped {skipped.name}: {skipped.reason}")
    return 0
