"""Markdown of the per-method sections: the NN-Caption campaign tables and FairNAD's ideas."""

from collections.abc import Sequence

from search_core.domain import CandidateRecord
from search_core.generation.funnel import funnel
from search_core.report.methods import campaign_tables, fairnad_tables
from search_core.report.tables import GroupStats, Search
from search_core.report.text import (
    NA,
    escape,
    excerpt,
    fmt_int,
    fmt_rate,
    fmt_score,
    table,
)


def _stats_cells(stats: GroupStats) -> list[str]:
    """Attempts, successes, success rate, best score."""
    return [str(stats.attempts), str(stats.successes), fmt_rate(stats.rate), fmt_score(stats.best)]


def _k_cell(k: int | None) -> str:
    return "unknown" if k is None else str(k)


def campaign_section(searches: Sequence[Search], baselines: dict[str, float]) -> list[str]:
    """The NN-Caption tables of "LLM as a Neural Architect", pooled over the given searches."""
    t = campaign_tables(searches, baselines)
    stats_headers = ["Attempts", "Successes", "Success rate", "Best BLEU-4"]
    lines = [
        "## NN-Caption campaign",
        "",
        f"{t.searches} nn\\_caption search(es), {t.attempts} attempts counted "
        f"({t.infra_errors} infra error(s) excluded). k is the number of classification "
        "snippets in the prompt (the name's C{k}C, else the search's "
        "`nn_caption.snippets_per_prompt`).",
        "",
        "### Models per prefix",
        "",
    ]
    rows = [
        [escape(prefix), _k_cell(k), decoder, *_stats_cells(stats)]
        for (prefix, k, decoder), stats in t.per_prefix.items()
    ]
    lines += [table(["Prefix", "k", "Decoder", *stats_headers], rows, (1, 3, 4, 5, 6)), ""]

    lines += ["### Models per decoder", ""]
    rows = [[decoder, *_stats_cells(stats)] for decoder, stats in t.per_decoder.items()]
    lines += [table(["Decoder", *stats_headers], rows, (1, 2, 3, 4)), ""]

    lines += ["### Success rate by snippets per prompt (k)", ""]
    rows = [[_k_cell(k), *_stats_cells(stats)] for k, stats in t.per_k.items()]
    lines += [table(["k", *stats_headers], rows, (0, 1, 2, 3, 4)), ""]

    lines += ["### Best BLEU-4 per family vs baselines", ""]
    rows = []
    for row in t.per_family:
        delta = (
            fmt_score(row.stats.best - row.baseline_score)
            if row.stats.best is not None and row.baseline_score is not None
            else NA
        )
        rows.append(
            [
                escape(row.family),
                row.decoder,
                *_stats_cells(row.stats),
                escape(row.baseline_name) or NA,
                fmt_score(row.baseline_score),
                delta,
            ]
        )
    headers = ["Family", "Decoder", *stats_headers, "Baseline", "Baseline score", "Best - baseline"]
    lines += [table(headers, rows, (2, 3, 4, 5, 7, 8)), ""]

    lines += ["### Failure modes", ""]
    failed = sum(row.count for row in t.failures)
    if not t.failures:
        lines += ["No failed attempts.", ""]
    else:
        rows = [
            [
                row.outcome.value,
                str(row.count),
                fmt_rate(row.count / failed),
                excerpt(row.top_error) or NA,
                str(row.top_error_count),
            ]
            for row in t.failures
        ]
        headers = ["Outcome", "Count", "Share of failures", "Most common error", "Times"]
        lines += [table(headers, rows, (1, 2, 4)), ""]
    if t.top_errors:
        lines += ["Most frequent errors:", ""]
        rows = [
            [
                str(r.count),
                r.outcome.value,
                excerpt(r.error_type, 40) or NA,
                excerpt(r.message) or NA,
            ]
            for r in t.top_errors
        ]
        lines += [table(["Count", "Outcome", "Error type", "Message"], rows, (0,)), ""]

    lines += ["### Repairs needed", "", "Repair attempts per candidate, and how many passed.", ""]
    successes = sum(passed for _, passed in t.repairs.values())
    rows = [
        [
            bucket,
            str(tried),
            str(passed),
            fmt_rate(passed / tried if tried else None),
            fmt_rate(passed / successes if successes else None),
        ]
        for bucket, (tried, passed) in t.repairs.items()
    ]
    headers = ["Repair attempts", "Candidates", "Passed", "Pass rate", "Share of passes"]
    lines += [table(headers, rows, (1, 2, 3, 4)), ""]
    return lines


def fairnad_section(label: str, candidates: Sequence[CandidateRecord]) -> list[str]:
    """Which knowledge-tree ideas one FairNAD search sampled, and its mutation operators."""
    t = fairnad_tables(candidates)
    stats_headers = ["Attempts", "Successes", "Success rate", "Best score"]
    lines = [
        f"## FairNAD: {label}",
        "",
        "Attempts counted as in the summary (infra errors excluded); (none) = no idea or "
        "operator recorded.",
        "",
        "### Ideas sampled per category",
        "",
    ]
    if not t.per_category:
        return [*lines, "No attempts.", ""]
    rows = [[escape(category), *_stats_cells(s)] for category, s in t.per_category.items()]
    lines += [table(["Category", *stats_headers], rows, (1, 2, 3, 4)), ""]

    lines += ["### Ideas sampled per attribute", ""]
    rows = [
        [escape(category), escape(attribute), *_stats_cells(s)]
        for (category, attribute), s in t.per_attribute.items()
    ]
    lines += [table(["Category", "Attribute", *stats_headers], rows, (2, 3, 4, 5)), ""]

    lines += ["### Mutation operators", ""]
    rows = [[escape(op), *_stats_cells(s)] for op, s in t.per_mutation.items()]
    lines += [table(["Operator", *stats_headers], rows, (1, 2, 3, 4)), ""]
    covered = sum(1 for (category, _) in t.per_attribute if category != "(none)")
    lines += [f"{fmt_int(covered)} distinct category/attribute pairs sampled.", ""]
    return lines


def generation_section(labelled: Sequence[tuple[str, Search]]) -> list[str]:
    """From answer to valid, new, applied model, per search with LLM candidates: valid as
    written, after the deterministic fixes, after each repair round, and valid-novel-applied,
    with 95% intervals, and what the LLM cost per valid-novel-applied candidate."""
    rows = []
    fixes: dict[str, int] = {}
    for label, (search, candidates) in labelled:
        rounds = int(search.config.get("repair_attempts", 0))
        figures = funnel(candidates, rounds)
        if not figures.candidates:
            continue
        for candidate in candidates:
            for fix in candidate.fixes:
                fixes[fix["rule"]] = fixes.get(fix["rule"], 0) + 1
        per_round = " / ".join(str(share) for share in figures.valid_after_round[1:]) or NA
        rows.append(
            [
                escape(label),
                fmt_int(figures.candidates),
                str(figures.valid_raw),
                str(figures.valid_after_fixes),
                per_round,
                str(figures.valid_novel_applied),
                _per_hit(figures.tokens_per_valid_novel_applied, "{:,.0f}"),
                _per_hit(figures.seconds_per_valid_novel_applied, "{:,.0f} s"),
            ]
        )
    if not rows:
        return []
    headers = [
        "Search",
        "LLM candidates",
        "Valid raw",
        "After fixes",
        "After repair rounds 1..n",
        "Valid, novel, applied",
        "Tokens per VNA",
        "LLM time per VNA",
    ]
    lines = [
        "## LLM generation",
        "",
        "Valid raw: passed with no repair and no deterministic fix; after fixes: passed with no "
        "repair; valid, novel, applied (VNA): passed (so not a duplicate or near copy) and no "
        "parameter it added went without a gradient. 95% Wilson intervals in brackets.",
        "",
        table(headers, rows, (1,)),
        "",
    ]
    if fixes:
        listing = ", ".join(f"{escape(rule)} {count}" for rule, count in sorted(fixes.items()))
        lines += [f"Deterministic fixes applied: {listing}.", ""]
    return lines


def _per_hit(value: float, form: str) -> str:
    return NA if value == float("inf") else form.format(value)
