"""Markdown of the per-method sections: the NN-Caption campaign tables and FairNAD's ideas."""

from collections.abc import Sequence

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord
from search_core.generation.funnel import funnel
from search_core.report.methods import (
    CampaignTables,
    CaptionStats,
    campaign_tables,
    fairnad_tables,
    held_out_bleu4,
    outcome_label,
)
from search_core.report.tables import GroupStats, Search, finite_score
from search_core.report.text import (
    NA,
    escape,
    excerpt,
    fmt_int,
    fmt_rate,
    fmt_score,
    table,
)
from search_core.scores import BLEU4_CONSTANT_BASELINE, IMAGE_BLIND_MARGIN, image_blind


def _stats_cells(stats: GroupStats) -> list[str]:
    """Attempts, successes, success rate, best score."""
    return [str(stats.attempts), str(stats.successes), fmt_rate(stats.rate), fmt_score(stats.best)]


def _k_cell(k: int | None) -> str:
    return "unknown" if k is None else str(k)


CAPTION_HEADERS = [
    "Attempts",
    "Successes",
    "Image-blind",
    "Meaningful",
    "Success rate",
    "Meaningful rate",
    "Best BLEU-4 (val.)",
    "Its test BLEU-4",
]


def _caption_cells(stats: CaptionStats) -> list[str]:
    """CAPTION_HEADERS' cells: the best is chosen by validation, its test figure shown."""
    return [
        str(stats.attempts),
        str(stats.successes),
        str(stats.image_blind),
        str(stats.meaningful),
        fmt_rate(stats.rate),
        fmt_rate(stats.meaningful_rate),
        fmt_score(stats.best_score),
        fmt_score(held_out_bleu4(stats.best)),
    ]


def _numeric(first: int, count: int = len(CAPTION_HEADERS)) -> tuple[int, ...]:
    """Column indexes of the caption cells when they start at column `first`."""
    return tuple(range(first, first + count))


def _outcomes_cell(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{label} {count}" for label, count in outcomes.items()) or NA


def campaign_section(searches: Sequence[Search], baselines: dict[str, float]) -> list[str]:
    """The NN-Caption tables of "LLM as a Neural Architect", pooled over the given searches."""
    t = campaign_tables(searches, baselines)
    lines = [
        "## NN-Caption campaign",
        "",
        f"{t.searches} nn\\_caption search(es), {t.attempts} generated attempts counted "
        f"({t.prompt_too_long} refused as too long for the model's context, counted as "
        f"`{Outcome.PROMPT_TOO_LONG}`; {t.infra_errors} infra error(s) excluded). k is the "
        "number of classification snippets in the prompt (the name's C{k}C, else the "
        "search's `nn_caption.snippets_per_prompt`). The decoder is read from the code, not "
        "the name. Image-blind: a success whose test BLEU-4 does not beat the image-blind "
        f"baseline (the most frequent caption for every image) by {IMAGE_BLIND_MARGIN}; "
        "meaningful = a success that is not image-blind. The best model is chosen by its "
        "validation BLEU-4; its held-out test BLEU-4 is shown beside it.",
        "",
        "### Models per prefix",
        "",
    ]
    rows = [
        [escape(prefix), _k_cell(k), decoder, *_caption_cells(stats)]
        for (prefix, k, decoder), stats in t.per_prefix.items()
    ]
    lines += [table(["Prefix", "k", "Decoder", *CAPTION_HEADERS], rows, (1, *_numeric(3))), ""]

    lines += ["### Models per decoder", ""]
    rows = [[decoder, *_caption_cells(stats)] for decoder, stats in t.per_decoder.items()]
    lines += [table(["Decoder", *CAPTION_HEADERS], rows, _numeric(1)), ""]

    lines += [
        "### Success rate by snippets per prompt (k)",
        "",
        "Every attempt, with its outcome; infra errors are listed but not counted in the rates.",
        "",
    ]
    rows = [
        [
            _k_cell(k),
            *_caption_cells(row.stats),
            str(row.infra_errors),
            _outcomes_cell(row.outcomes),
        ]
        for k, row in t.per_k.items()
    ]
    headers = ["k", *CAPTION_HEADERS, "Infra errors", "Outcomes"]
    lines += [table(headers, rows, (0, *_numeric(1), len(CAPTION_HEADERS) + 1)), ""]

    lines += _baselines_lines(t)
    lines += _families_lines(t)
    lines += _failure_lines(t)
    lines += _repair_lines(t)
    return lines


def _baselines_lines(t: CampaignTables) -> list[str]:
    lines = ["### Baselines trained in the campaign", ""]
    if not t.baselines:
        return [*lines, "None (`nn_caption.train_baselines` was off).", ""]
    rows = [
        [
            escape(row.candidate.search_id),
            escape(row.candidate.name),
            row.decoder,
            outcome_label(row.candidate),
            fmt_score(finite_score(row.candidate)),
            fmt_score(held_out_bleu4(row.candidate)),
            fmt_score(row.candidate.scores.get(BLEU4_CONSTANT_BASELINE)),
            _flag(image_blind(row.candidate.scores)),
        ]
        for row in t.baselines
    ]
    headers = [
        "Search",
        "Baseline",
        "Decoder",
        "Outcome",
        "BLEU-4 (val.)",
        "Test BLEU-4",
        "Image-blind BLEU-4",
        "Image-blind",
    ]
    return [*lines, table(headers, rows, (4, 5, 6)), ""]


def _flag(value: bool | None) -> str:
    return NA if value is None else ("yes" if value else "no")


def _families_lines(t: CampaignTables) -> list[str]:
    lines = [
        "### Best BLEU-4 per family vs baselines",
        "",
        "Test BLEU-4 of the family's best model (chosen by validation) against the baseline's, "
        "trained in this campaign under the same budget (else the zoo's recorded score, "
        "marked *).",
        "",
    ]
    rows = []
    for row in t.per_family:
        baseline = escape(row.baseline_name) or NA
        if row.baseline_name and not row.baseline_trained:
            baseline += " *"
        rows.append(
            [
                escape(row.family),
                ", ".join(row.decoders),
                *_caption_cells(row.stats),
                baseline,
                fmt_score(row.baseline_score),
                fmt_score(row.delta),
            ]
        )
    headers = [
        "Family",
        "Decoders",
        *CAPTION_HEADERS,
        "Baseline",
        "Baseline test BLEU-4",
        "Best test - baseline",
    ]
    numeric = (*_numeric(2), len(CAPTION_HEADERS) + 3, len(CAPTION_HEADERS) + 4)
    return [*lines, table(headers, rows, numeric), ""]


def _failure_lines(t: CampaignTables) -> list[str]:
    lines = ["### Failure modes", ""]
    failed = sum(row.count for row in t.failures)
    if not t.failures:
        return [*lines, "No failed attempts.", ""]
    rows = [
        [
            row.outcome,
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
                r.outcome,
                excerpt(r.error_type, 40) or NA,
                excerpt(r.message) or NA,
            ]
            for r in t.top_errors
        ]
        lines += [table(["Count", "Outcome", "Error type", "Message"], rows, (0,)), ""]
    return lines


def _repair_lines(t: CampaignTables) -> list[str]:
    lines = ["### Repairs needed", "", "Repair attempts per candidate, and how many passed.", ""]
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
    return [*lines, table(headers, rows, (1, 2, 3, 4)), ""]


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
