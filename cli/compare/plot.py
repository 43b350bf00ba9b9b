"""The anytime-curves PNG: one colour per method, the mean line and its shaded 95% interval.

Built without pyplot (no global figure registry) and in a fixed style, as
search_core/report/plots.py draws the search report, so the same figures give the same image.
"""

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cli.compare.stats import Comparison, Interval
from search_core.report.plots import LINE_COLORS, STYLE, plot_label


def plot_anytime(comparison: Comparison, path: Path) -> Path:
    with matplotlib.style.context(["default", STYLE]):
        fig = Figure(figsize=(12, 4.5))
        by_candidates, by_time = fig.subplots(1, 2)
        for index, method in enumerate(comparison.methods):
            color = LINE_COLORS[index % len(LINE_COLORS)]
            xs = list(range(1, len(method.curve) + 1))
            _draw(by_candidates, xs, method.curve, color, plot_label(method.label), "o")
            times = comparison.time_grid[: len(method.time_curve)]
            _draw(by_time, times, method.time_curve, color, None, None)
        by_candidates.set_xlabel("candidates evaluated (failed ones included)")
        by_candidates.xaxis.set_major_locator(MaxNLocator(integer=True))
        by_time.set_xlabel("wall time spent: training + LLM (s)")
        for ax in (by_candidates, by_time):
            ax.set_ylabel("best validation score so far")
        by_candidates.legend(loc="lower right")
        fig.suptitle(f"{plot_label(comparison.name)}: mean over seeds, shaded 95% interval")
        fig.tight_layout()
        FigureCanvasAgg(fig)
        fig.savefig(path, format="png", metadata={"Software": None})
        return path


def _draw(ax, xs: Sequence[float], curve: Sequence[Interval | None], color, label, marker) -> None:
    """A step line of the means, broken where no seed has a score yet; `marker` marks each
    budget point, so a curve of a single point still shows."""
    means = [point.mean if point else math.nan for point in curve]
    lows = [point.low if point and point.low is not None else math.nan for point in curve]
    highs = [point.high if point and point.high is not None else math.nan for point in curve]
    ax.step(xs, means, where="post", color=color, linewidth=1.8, marker=marker, ms=3, label=label)
    ax.fill_between(xs, lows, highs, step="post", color=color, alpha=0.2, linewidth=0)
