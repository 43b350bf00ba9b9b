"""`nasforge zoo`: list the model zoo, seed it with the built-in models, import LEMUR models."""

import argparse
import asyncio
import json

from cli.common import UsageError, add_store_argument, open_store, store_url
from cli.spec_options import add_parameter_budget_argument, positive_integer
from netapi.code_policy import load_policy
from netapi.outcomes import Outcome
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
        "import-lemur",
        help="import the models of a LEMUR SQLite database (read-only) that pass nasforge's "
        "checks at the resolution LEMUR trained them at; report each refusal",
    )
    lemur.add_argument("file", help="LEMUR database file, e.g. db/ab.nn.db")
    add_store_argument(lemur)
    lemur.add_argument(
        "--sandbox",
        action="store_true",
        help="also run each model in a locked-down container (needs Docker): forward and "
        "learn at its resolution, under the parameter budget. Default: static check only",
    )
    add_parameter_budget_argument(lemur)
    lemur.add_argument(
        "--jobs", type=positive_integer, default=2, help="sandbox checks at once (default 2)"
    )
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
    """Exit 0 with a report; 1 when a sandbox check failed on our side (the import is
    incomplete: run it again)."""
    from cli.sandbox import cli_settings
    from search_core.zoo.lemur import LemurFormatError, read_lemur

    if args.parameter_budget and not args.sandbox:
        raise UsageError(
            "--parameter-budget needs --sandbox: a model's parameters are counted when it is built"
        )
    settings = cli_settings(max_concurrent_checks=args.jobs, per_tenant_concurrency=args.jobs)
    policy = load_policy(settings)  # the sandbox's own: allowlist and name index
    try:
        report = read_lemur(args.file, policy)
    except LemurFormatError as exc:
        raise UsageError(str(exc)) from exc
    if args.sandbox:
        budget = args.parameter_budget or settings.parameter_budget
        asyncio.run(_check_in_sandbox(report, settings, budget, args.jobs))
    store = open_store(args)
    try:
        report.put_into(store)
    finally:
        store.close()
    if args.json:
        print(json.dumps({**report.to_dict(), "store": store_url(args)}))
    else:
        _print_report(report, args.file, store_url(args))
    return 1 if any(entry.outcome == Outcome.INFRA_ERROR.value for entry in report.entries) else 0


async def _check_in_sandbox(report, settings, budget: int, jobs: int) -> None:
    from cli.sandbox import CLI_TENANT, cli_checker
    from search_core.zoo.lemur import check_in_sandbox

    async with cli_checker(settings) as checker:

        async def check(code, spec, parameter_budget):
            return await checker.check(
                code, spec, tenant=CLI_TENANT, parameter_budget=parameter_budget
            )

        await check_in_sandbox(report, check, budget, jobs)


def _print_report(report, file: str, store: str) -> None:
    print(f"imported {report.imported} of {report.rows} models from {file} into {store}")
    if report.checked == "sandbox":
        print(
            "checked: in the sandbox at each model's resolution; parameter budget "
            f"{report.parameter_budget:,} (--parameter-budget)"
        )
    else:
        print(
            "checked: statically at each model's resolution (--sandbox also runs each one and "
            "counts its parameters)"
        )
    header = ("name", "task", "transform", "in_shape", "outcome", "reason")
    rows = [
        (
            entry.name,
            entry.task or "-",
            entry.transform or "-",
            "x".join(map(str, entry.spec.in_shape)) if entry.spec else "-",
            entry.outcome,
            entry.reason,
        )
        for entry in report.entries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    totals = ", ".join(f"{outcome} {count}" for outcome, count in report.totals().items())
    print(f"totals: {totals}")
