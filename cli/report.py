"""`nasforge report`: a Markdown report with plots of searches, read through the public API
(any deployment, with a token), or with --store from a local database file."""

import argparse
from pathlib import Path

from cli.common import UsageError, add_connection_arguments, connection_from_args
from rpc.client import ClientTLS


def register(commands) -> None:
    report = commands.add_parser("report", help="write a Markdown report with plots")
    report.add_argument("search_ids", nargs="+", metavar="SEARCH")
    report.add_argument("--out", type=Path, default=Path("var/reports"))
    add_connection_arguments(report, "--target", "search_core", client_certificate=False)
    report.add_argument(
        "--store", help="read a local store instead of the API (e.g. var/nasforge.db)"
    )
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    if args.store:
        if args.target:
            raise UsageError("give --target (the API) or --store (a local database), not both")
        path = write_search_report(args.store, args.search_ids, args.out)
    else:
        target, token, tls = connection_from_args(args, "search_core")
        path = write_api_report(target, token, tls, args.search_ids, args.out)
    print(f"report: {path}")
    return 0


def write_api_report(
    target: str, token: str | None, tls: ClientTLS | None, search_ids: list[str], out: Path
) -> Path:
    """Read the searches and their finished candidates through the API (the tenant of
    ``token`` sees only its own) and write the report; the Markdown's path."""
    from cli.records_from_api import candidate_record, search_record
    from nasforge.client import NotFound, SearchClient

    searches = []
    with SearchClient(target, token, tls=tls) as client:
        for search_id in search_ids:
            try:
                search = search_record(client.get(search_id))
            except NotFound as exc:
                raise UsageError(f"{exc.message} at {target}") from exc
            candidates = [candidate_record(c, search) for c in client.candidates(search_id)]
            searches.append((search, candidates))
    return _write(searches, out)


def write_search_report(store_url: str, search_ids: list[str], out: Path) -> Path:
    """Read the searches from the store and write the report; the Markdown's path."""
    from search_core.store import open_store

    store = open_store(store_url)
    try:
        known = {search.search_id: search for search in store.list_searches(None)}
        searches = []
        for search_id in search_ids:
            if search_id not in known:
                raise UsageError(f"no search {search_id!r} in {store_url}")
            searches.append((known[search_id], store.search_candidates(search_id)))
        return _write(searches, out)
    finally:
        store.close()


def _write(searches: list, out: Path) -> Path:
    from search_core.report import write_report
    from search_core.zoo import builtin_models

    baselines = {
        m.name: m.metrics["bleu4_corpus"] for m in builtin_models() if "bleu4_corpus" in m.metrics
    }
    return write_report(searches, out, baselines=baselines)
