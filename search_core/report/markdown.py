"""The search report: `write_report` writes report.md and its PNG plots for one or more searches.

Sections: summary, baselines, outcomes, best score vs candidates, Pareto front, validation
curves, the NN-Caption campaign and FairNAD sections where such searches are present, and
a top-10 leaderboard per search. Output depends only on the records passed in.
"""

import enum
import re
from collections.abc import Sequence
from pathlib import Path

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, Method, SearchRecord
from search_core.report import plots
from search_core.report.method_sections import (
    campaign_section,
    fairnad_section,
    generation_section,
)
from search_core.report.tables import (
    Search,
    finite_score,
    held_out_score,
    leaderboard,
    metric_name,
    ordered,
    outcome_counts,
    pareto_front,
    running_best,
    scored_successes,
    summarize,
    top_curves,
)
from search_core.report.text import (
    NA,
    escape,
    excerpt,
    fmt_count_rate,
    fmt_duration,
    fmt_int,
    fmt_rate,
    fmt_score,
    fmt_time,
    table,
)

REPORT_NAME = "report.md"
OUTCOMES_PNG = "outcomes.png"
TOP_CURVES = 5
TOP_LEADERBOARD = 10


def plain(value: object) -> str:
    """Closed-set values (enums) as they are; anything else escaped."""
    return value.value if isinstance(value, enum.Enum) else escape(value)


def search_label(index: int, search: SearchRecord) -> str:
    """`#2 random`: the number is the search's position in the report."""
    return f"#{index} {plain(search.method)}"


def plot_search_label(index: int, search: SearchRecord) -> str:
    method = search.method.value if isinstance(search.method, enum.Enum) else str(search.method)
    return f"#{index} {method}"


def _summary_section(searches: Sequence[Search]) -> list[str]:
    summaries = [summarize(s, c) for s, c in searches]
    rows: list[tuple[str, list[str]]] = [
        ("Search id", [escape(s.search_id) for s, _ in searches]),
        ("Method", [plain(s.method) for s, _ in searches]),
        ("Task", [escape(x.task) or NA for x in summaries]),
        ("Dataset", [escape(x.dataset) or NA for x in summaries]),
        ("Score", [x.metric for x in summaries]),
        ("Budget (max candidates)", [fmt_int(x.budget) for x in summaries]),
        ("State", [plain(s.state) for s, _ in searches]),
        ("Created", [fmt_time(s.created_at) for s, _ in searches]),
        ("Candidates evaluated", [str(x.evaluated) for x in summaries]),
        ("Unfinished", [str(x.unfinished) for x in summaries]),
        ("Infra errors (excluded from rates)", [str(x.infra_errors) for x in summaries]),
        ("Attempts counted in rates", [str(x.attempts) for x in summaries]),
        ("Success rate", [fmt_count_rate(x.successes, x.attempts) for x in summaries]),
        ("Hallucination rate", [fmt_count_rate(x.hallucinated, x.attempts) for x in summaries]),
        (
            "Compliance-failure rate",
            [fmt_count_rate(x.compliance_failures, x.attempts) for x in summaries],
        ),
        ("Duplicates", [str(x.duplicates) for x in summaries]),
        ("Best validation score", [fmt_score(x.best_score) for x in summaries]),
        ("Its test score (held out)", [fmt_score(x.best_test) for x in summaries]),
        ("Best candidate", [escape(x.best_name) or NA for x in summaries]),
        ("Candidates trained", [str(x.spent.trained) for x in summaries]),
        ("Epochs trained", [str(x.spent.epochs) for x in summaries]),
        ("Training samples seen", [fmt_int(x.spent.samples) for x in summaries]),
        ("Training time", [fmt_duration(x.spent.training_s) for x in summaries]),
        ("LLM time", [fmt_duration(x.spent.llm_s) for x in summaries]),
        ("Wall time", [fmt_duration(x.wall_time_s) for x in summaries]),
    ]
    if any(s.error_type or s.error_message for s, _ in searches):
        errors = [
            excerpt(": ".join(p for p in (s.error_type, s.error_message) if p)) or NA
            for s, _ in searches
        ]
        rows.append(("Search error", errors))
    headers = ["", *(search_label(i, s) for i, (s, _) in enumerate(searches, 1))]
    return [
        "## Summary",
        "",
        "Rates are over the attempts counted: candidates evaluated minus infra errors "
        "(our side broke, never the model's fault, so they are excluded from the model's "
        "rates). Hallucination = `hallucinated_api`; compliance failure = "
        "`api_noncompliance` + `shape_mismatch` + `forbidden_code` + `too_large`. "
        "Every search chose by the validation score; the test score is held out and shown "
        "only. The budget rows are what each search spent, in the units all methods share.",
        "",
        table(headers, [[name, *cells] for name, cells in rows]),
        "",
    ]


def _baselines_section(baselines: dict[str, float]) -> list[str]:
    if not baselines:
        return []
    rows = [[escape(name), fmt_score(baselines[name])] for name in sorted(baselines)]
    return ["## Baselines", "", table(["Model", "Score"], rows, (1,)), ""]


def _outcomes_section(searches: Sequence[Search], out_dir: Path) -> list[str]:
    counts = [outcome_counts(c) for _, c in searches]
    totals = [sum(c.values()) for c in counts]
    headers = ["Outcome", *(search_label(i, s) for i, (s, _) in enumerate(searches, 1))]
    rows = [
        [
            outcome.value,
            *(
                f"{c[outcome]} ({fmt_rate(c[outcome] / total if total else None)})"
                for c, total in zip(counts, totals, strict=True)
            ),
        ]
        for outcome in Outcome
    ]
    rows.append(["total", *(str(total) for total in totals)])
    lines = [
        "## Outcomes",
        "",
        "Count (share) per outcome; shares are of all evaluated candidates, infra errors included.",
        "",
        table(headers, rows, range(1, len(headers))),
        "",
        *_warnings_note(searches),
    ]
    if any(totals):
        labels = [plot_search_label(i, s) for i, (s, _) in enumerate(searches, 1)]
        plots.plot_outcomes(out_dir / OUTCOMES_PNG, labels, counts)
        lines += [f"![Outcomes per search]({OUTCOMES_PNG})", ""]
    else:
        lines += ["No outcome plot: no search has an evaluated candidate.", ""]
    return lines


def _warnings_note(searches: Sequence[Search]) -> list[str]:
    """How many candidates carry each warning rule: accepted as LEMUR accepts them, so counted
    in their outcome, but worth knowing (the leaderboard names each one's)."""
    carrying: dict[str, int] = {}
    for _, candidates in searches:
        for candidate in candidates:
            for rule in {str(w.get("rule", "")) for w in candidate.warnings}:
                carrying[rule] = carrying.get(rule, 0) + 1
    if not carrying:
        return []
    counts = ", ".join(f"{escape(rule)} on {n}" for rule, n in sorted(carrying.items()))
    return [f"Warnings (recorded on the candidate, never an outcome): {counts}.", ""]


def _metric_groups(searches: Sequence[Search]) -> list[tuple[str, list[tuple[int, Search]]]]:
    """Searches by what their score means (BLEU-4 and accuracy never share axes)."""
    groups: dict[str, list[tuple[int, Search]]] = {}
    for index, entry in enumerate(searches, 1):
        groups.setdefault(metric_name(entry[0]), []).append((index, entry))
    return list(groups.items())


def _png_name(stem: str, metric: str, several: bool) -> str:
    if not several:
        return f"{stem}.png"
    return f"{stem}_{re.sub(r'[^a-z0-9]+', '-', metric.lower()).strip('-')}.png"


def _running_best_section(
    searches: Sequence[Search], out_dir: Path, baselines: dict[str, float]
) -> list[str]:
    lines = [
        "## Best score vs candidates evaluated",
        "",
        "The running best over the attempts in the order they finished (infra errors "
        "excluded): whether the LLM-guided search beats the baselines at the same budget.",
        "",
    ]
    rows = []
    for i, (s, candidates) in enumerate(searches, 1):
        curve = running_best(candidates)
        best = curve[-1] if curve else None
        first = next((n for n, v in enumerate(curve, 1) if v is not None), None)
        reached = next((n for n, v in enumerate(curve, 1) if best is not None and v == best), None)
        rows.append(
            [search_label(i, s), str(len(curve)), fmt_int(first), fmt_score(best), fmt_int(reached)]
        )
    headers = ["Search", "Attempts", "First success at", "Best score", "Best reached at"]
    lines += [table(headers, rows, (1, 2, 3, 4)), ""]
    groups = _metric_groups(searches)
    for metric, members in groups:
        series = [(plot_search_label(i, s), running_best(c)) for i, (s, c) in members]
        if not any(v is not None for _, curve in series for v in curve):
            lines += [f"No {metric} plot: no search has a successful candidate with a score.", ""]
            continue
        # Baselines carry no metric of their own: draw them only where every search shares one.
        drawn = baselines if len(groups) == 1 else {}
        name = _png_name("best_vs_candidates", metric, len(groups) > 1)
        plots.plot_running_best(out_dir / name, series, metric, drawn)
        lines += [f"![Best {metric} vs candidates evaluated]({name})", ""]
        if baselines and not drawn:
            lines += ["Baselines are not drawn: the searches' scores differ in meaning.", ""]
    return lines


def _pareto_section(searches: Sequence[Search], out_dir: Path) -> list[str]:
    lines = [
        "## Pareto front: validation score vs parameters",
        "",
        "Successful candidates with a parameter count; the front maximises the validation "
        "score and minimises the parameter count.",
        "",
    ]
    rows = []
    for i, (s, candidates) in enumerate(searches, 1):
        front = pareto_front(candidates)
        rows += [
            [
                search_label(i, s),
                escape(c.name) or NA,
                fmt_int(c.parameter_count),
                fmt_score(c.score),
            ]
            for c in front
        ]
        if not front:
            rows.append([search_label(i, s), "(no successful candidates)", NA, NA])
    lines += [table(["Search", "Candidate", "Parameters", "Score"], rows, (2, 3)), ""]
    groups = _metric_groups(searches)
    for metric, members in groups:
        series = []
        for i, (s, candidates) in members:
            points = [c for c in scored_successes(candidates) if c.parameter_count is not None]
            series.append(
                (
                    plot_search_label(i, s),
                    [(c.parameter_count or 0, finite_score(c) or 0.0) for c in points],
                    [
                        (c.parameter_count or 0, finite_score(c) or 0.0)
                        for c in pareto_front(points)
                    ],
                )
            )
        if not any(points for _, points, _ in series):
            lines += [
                f"No {metric} plot: no search has a successful candidate with a parameter count.",
                "",
            ]
            continue
        name = _png_name("pareto", metric, len(groups) > 1)
        plots.plot_pareto(out_dir / name, series, metric)
        lines += [f"![Pareto front: {metric} vs parameters]({name})", ""]
    return lines


def _curves_section(searches: Sequence[Search], out_dir: Path) -> list[str]:
    lines = [f"## Validation curves (top {TOP_CURVES} per search)", ""]
    for i, (s, candidates) in enumerate(searches, 1):
        metric = metric_name(s)
        lines += [f"### {search_label(i, s)}: validation {metric} per epoch", ""]
        top = top_curves(candidates, TOP_CURVES)
        if not top:
            lines += ["No plot: no candidate of this search reported epoch metrics.", ""]
            continue
        name = f"curves_{i}.png"
        labelled = [
            (f"{rank}. {c.name or c.candidate_id}", c.epochs) for rank, c in enumerate(top, 1)
        ]
        plots.plot_curves(
            out_dir / name, f"{plot_search_label(i, s)}: top {len(top)}", labelled, metric
        )
        rows = [
            [
                str(rank),
                escape(c.name) or NA,
                str(len(c.epochs)),
                fmt_score(max((e.validation_metric for e in c.epochs), default=None)),
                fmt_score(held_out_score(s, c)),
            ]
            for rank, c in enumerate(top, 1)
        ]
        headers = ["#", "Candidate", "Epochs", f"Best epoch {metric}", "Test (held out)"]
        lines += [table(headers, rows, (0, 2, 3, 4)), "", f"![Validation curves]({name})", ""]
    return lines


def _leaderboard_section(searches: Sequence[Search]) -> list[str]:
    lines = [f"## Leaderboard (top {TOP_LEADERBOARD} per search)", ""]
    headers = [
        "Rank",
        "Name",
        "Validation",
        "Test (held out)",
        "Parameters",
        "FLOPs",
        "Outcome",
        "Generator",
        "Parent",
        "Warnings",
    ]
    for i, (s, candidates) in enumerate(searches, 1):
        lines += [f"### {search_label(i, s)}", ""]
        top = leaderboard(candidates, TOP_LEADERBOARD)
        if not top:
            lines += ["No scored candidates.", ""]
            continue
        rows = [
            [
                str(rank),
                escape(c.name) or NA,
                fmt_score(c.score),
                fmt_score(held_out_score(s, c)),
                fmt_int(c.parameter_count),
                fmt_int(c.flops),
                plain(c.outcome) if c.outcome is not None else NA,
                plain(c.generator),
                escape(c.parent) or NA,
                warning_rules(c),
            ]
            for rank, c in enumerate(top, 1)
        ]
        lines += [table(headers, rows, (0, 2, 3, 4, 5)), ""]
    return lines


def warning_rules(candidate: CandidateRecord) -> str:
    """The rules of a candidate's warnings (recorded, never its outcome), or "" for none."""
    return escape(", ".join(sorted({str(w.get("rule", "")) for w in candidate.warnings})))


def render_report(
    searches: Sequence[Search], out_dir: Path, baselines: dict[str, float] | None = None
) -> str:
    """The Markdown text; writes the plots it references into out_dir."""
    baselines = dict(baselines or {})
    lines = ["# Search report", ""]
    if not searches:
        return "\n".join([*lines, "No searches given.", ""])
    listing = ", ".join(search_label(i, s) for i, (s, _) in enumerate(searches, 1))
    lines += [f"{len(searches)} search(es): {listing}.", ""]
    lines += _summary_section(searches)
    lines += _baselines_section(baselines)
    lines += _outcomes_section(searches, out_dir)
    lines += _running_best_section(searches, out_dir, baselines)
    lines += _pareto_section(searches, out_dir)
    lines += _curves_section(searches, out_dir)
    campaign = [(s, c) for s, c in searches if s.method == Method.NN_CAPTION]
    if campaign:
        lines += campaign_section(campaign, baselines)
    for i, (s, candidates) in enumerate(searches, 1):
        if s.method == Method.FAIRNAD:
            lines += fairnad_section(search_label(i, s), candidates)
    lines += generation_section(
        [(search_label(i, s), (s, c)) for i, (s, c) in enumerate(searches, 1)]
    )
    lines += _leaderboard_section(searches)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(
    searches: list[tuple[SearchRecord, list[CandidateRecord]]],
    out_dir: Path,
    *,
    baselines: dict[str, float] | None = None,
) -> Path:
    """Write out_dir/report.md and its PNG plots; return the Markdown file's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    normalised = [(search, ordered(candidates)) for search, candidates in searches]
    path = out_dir / REPORT_NAME
    path.write_text(render_report(normalised, out_dir, baselines), encoding="utf-8")
    return path
