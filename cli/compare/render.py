"""The comparison report: Markdown tables, a PNG of the anytime curves, and the figures as JSON.

The figures are split in two files so that reruns can be diffed: results.json holds every
figure that follows from the seeds (for the template methods it is byte-identical when the
comparison is rerun with the same seeds in a fresh store), timings.json holds what differs
from run to run (wall times, the curves against wall time, search ids).
"""

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from cli.compare.stats import Comparison, FriedmanTest, Interval, MethodSummary, PairTest

REPORT = "report.md"
RESULTS = "results.json"
TIMINGS = "timings.json"
PLOT = "anytime.png"


def write_report(comparison: Comparison, out: Path) -> Path:
    """Write the four files into `out`; return the Markdown report's path."""
    from cli.compare.plot import plot_anytime  # matplotlib loads only when a report is written

    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS).write_text(to_json(results_document(comparison)))
    (out / TIMINGS).write_text(to_json(timings_document(comparison)))
    plot_anytime(comparison, out / PLOT)
    (out / REPORT).write_text(markdown(comparison))
    return out / REPORT


# -- JSON


def to_json(document: dict) -> str:
    """Stable text: the same figures give the same bytes (no NaN, fixed key order)."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def results_document(comparison: Comparison) -> dict:
    """Every figure that follows from the seeds alone; no wall times, no ids."""
    return {
        "name": comparison.name,
        "task": comparison.task,
        "seeds": list(comparison.seeds),
        "budget": asdict(comparison.budget),
        "methods": [_method_results(method) for method in comparison.methods],
        "mann_whitney": [asdict(pair) for pair in comparison.pairs],
        "friedman": asdict(comparison.friedman) if comparison.friedman else None,
    }


def timings_document(comparison: Comparison) -> dict:
    """What differs from one run to the next: wall times, curves against them, search ids."""
    return {
        "name": comparison.name,
        "time_grid_seconds": list(comparison.time_grid),
        "methods": [
            {
                "label": method.label,
                "timing": asdict(method.timing),
                "time_curve": [_interval(point) for point in method.time_curve],
                "seeds": [
                    {
                        "seed": seed.seed,
                        "search_id": seed.search_id,
                        "timing": asdict(seed.timing),
                        "time_curve": list(seed.time_curve),
                    }
                    for seed in method.seeds
                ],
            }
            for method in comparison.methods
        ],
    }


def _method_results(method: MethodSummary) -> dict:
    return {
        "label": method.label,
        "method": method.method,
        "best_validation": _interval(method.best_validation),
        "test_of_best": _interval(method.test_of_best),
        "spent": asdict(method.spent),
        "curve": [_interval(point) for point in method.curve],
        "seeds": [
            {
                "seed": seed.seed,
                "state": seed.state,
                "best_name": seed.best_name,
                "best_validation": seed.best_validation,
                "test_of_best": seed.test_of_best,
                "spent": asdict(seed.spent),
                "curve": list(seed.curve),
            }
            for seed in method.seeds
        ],
    }


def _interval(value: Interval | None) -> dict | None:
    return asdict(value) if value else None


# -- Markdown


def markdown(comparison: Comparison) -> str:
    sections = [
        _heading(comparison),
        _results_table(comparison),
        _budget_table(comparison),
        _rank_tests(comparison),
        f"## Anytime curves\n\n![best validation vs budget]({PLOT})\n",
        _seed_table(comparison),
        _files(),
    ]
    return "\n".join(sections)


def _heading(comparison: Comparison) -> str:
    budget = comparison.budget
    return (
        f"# Comparison: {comparison.name}\n\n"
        f"Task `{comparison.task}`, seeds {', '.join(map(str, comparison.seeds))}. "
        f"Every search had the same budget: at most {budget.max_candidates} candidates, "
        f"each trained {budget.epochs} epoch(s) on {budget.train_samples} samples, "
        f"validated on {budget.validation_samples} and tested on {budget.test_samples}.\n\n"
        "Each seed's model is the one with the best validation score; its test score is "
        "held out and only reported. Intervals are 95% t-intervals over seeds.\n"
    )


def _results_table(comparison: Comparison) -> str:
    rows = [
        [
            method.label,
            str(len(method.seeds)),
            _number(method.spent.candidates),
            _number(method.spent.successes),
            format_interval(method.best_validation, len(method.seeds)),
            format_interval(method.test_of_best, len(method.seeds)),
            _seconds(method.timing.training_seconds + method.timing.llm_seconds),
        ]
        for method in comparison.methods
    ]
    header = [
        "method",
        "seeds",
        "candidates",
        "successes",
        "best validation mean [95% CI]",
        "test of best mean [95% CI]",
        "wall time",
    ]
    return "## Results\n\n" + _table(header, rows)


def _budget_table(comparison: Comparison) -> str:
    rows = [
        [
            method.label,
            _number(method.spent.candidates),
            _number(method.spent.trained),
            _number(method.spent.successes),
            _number(method.spent.epochs),
            _number(method.spent.samples),
            _seconds(method.timing.training_seconds),
            _seconds(method.timing.llm_seconds),
        ]
        for method in comparison.methods
    ]
    header = [
        "method",
        "candidates",
        "trained",
        "successes",
        "epochs",
        "samples seen",
        "training time",
        "LLM time",
    ]
    return (
        "## Budget actually spent (means over seeds)\n\n"
        "A failed candidate spends its slot (and what it trained) and adds no score.\n\n"
        + _table(header, rows)
    )


def _rank_tests(comparison: Comparison) -> str:
    text = "## Rank tests on the test score of each seed's best model\n\n"
    if comparison.pairs:
        rows = [_pair_row(pair) for pair in comparison.pairs]
        header = [
            "methods",
            "n",
            "U of the first",
            "p (two-sided Mann-Whitney)",
            "smallest reachable p",
        ]
        text += _table(header, rows) + "\n" + _reach_note(comparison.pairs)
    else:
        text += "One method: nothing to test.\n"
    return text + "\n" + _friedman_line(comparison.friedman)


def _pair_row(pair: PairTest) -> list[str]:
    return [
        f"{pair.first} vs {pair.second}",
        f"{pair.n_first} vs {pair.n_second}",
        _number(pair.u),
        _p(pair.p),
        _p(pair.smallest_p),
    ]


def _reach_note(pairs: Sequence[PairTest]) -> str:
    """Say plainly when the sample sizes make significance at 0.05 impossible."""
    unreachable = [pair for pair in pairs if pair.smallest_p is not None and pair.smallest_p > 0.05]
    if not unreachable:
        return ""
    sizes = sorted({(pair.n_first, pair.n_second) for pair in unreachable})
    reach = ", ".join(f"{a} vs {b} seeds: {_p(2 / math.comb(a + b, a))}" for a, b in sizes)
    return (
        "With so few seeds a two-sided Mann-Whitney test cannot reach p < 0.05 whatever the "
        f"scores (smallest reachable p with {reach}); such a p says only that the seeds are "
        "too few to tell, not that the methods are equal.\n"
    )


def _friedman_line(test: FriedmanTest | None) -> str:
    if test is None:
        return "Friedman test: needs 3 methods or more.\n"
    if test.statistic is None:
        return f"Friedman test across {', '.join(test.labels)}: none ({test.note}; n = {test.n}).\n"
    return (
        f"Friedman test across {', '.join(test.labels)} (seeds paired): "
        f"chi-square = {test.statistic:.3f}, n = {test.n} seeds, p = {_p(test.p)}.\n"
    )


def _seed_table(comparison: Comparison) -> str:
    rows = [
        [
            method.label,
            str(seed.seed),
            seed.state,
            seed.best_name or "—",
            _number(seed.best_validation),
            _number(seed.test_of_best),
        ]
        for method in comparison.methods
        for seed in method.seeds
    ]
    header = ["method", "seed", "search", "best model (by validation)", "validation", "test"]
    return "## Per seed\n\n" + _table(header, rows)


def _files() -> str:
    return (
        "## Files\n\n"
        f"- `{RESULTS}`: every per-seed figure except wall times and ids; for the template "
        "methods it is byte-identical when the comparison is rerun with the same seeds in a "
        "fresh store.\n"
        f"- `{TIMINGS}`: wall times, the curves against wall time, and the search ids, which "
        "differ from run to run.\n"
    )


def format_interval(value: Interval | None, seeds: int) -> str:
    """Mean [low, high]; n is named when some of the `seeds` had no figure."""
    if value is None:
        return "—"
    if value.low is None or value.high is None:
        return f"{value.mean:.4f} (n = {value.n}, no interval)"
    text = f"{value.mean:.4f} [{value.low:.4f}, {value.high:.4f}]"
    return text if value.n == seeds else f"{text} (n = {value.n})"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "".join("| " + " | ".join(_cell(c) for c in line) + " |\n" for line in lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"
