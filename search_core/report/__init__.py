"""The search report: Markdown tables and PNG plots over search and candidate records.

`write_report([(search, candidates), ...], out_dir, baselines={...})` writes
out_dir/report.md and the plots it references; the caller reads the records from the store.
"""

from search_core.report.markdown import render_report, write_report
from search_core.report.methods import (
    campaign_tables,
    fairnad_tables,
    snippets_per_prompt,
)
from search_core.report.tables import (
    SearchSummary,
    leaderboard,
    outcome_counts,
    pareto_front,
    running_best,
    summarize,
)
from search_core.report.text import escape, excerpt

__all__ = [
    "SearchSummary",
    "campaign_tables",
    "escape",
    "excerpt",
    "fairnad_tables",
    "leaderboard",
    "outcome_counts",
    "pareto_front",
    "render_report",
    "running_best",
    "snippets_per_prompt",
    "summarize",
    "write_report",
]
