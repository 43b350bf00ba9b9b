"""`nasforge report`: a Markdown report with plots of searches, read from the store."""

import argparse
from pathlib import Path

from cli.common import UsageError, add_store_argument, store_url


def register(commands) -> None:
    report = commands.add_parser("report", help="write a Markdown report with plots")
    report.add_argument("search_ids", nargs="+", metavar="SEARCH")
    add_store_argument(report)
    report.add_argument("--out", type=Path, default=Path("var/reports"))
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    path = write_search_report(store_url(args), args.search_ids, args.out)
    print(f"report: {path}")
    return 0


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
