"""PNG plots of the search report, drawn with a fixed style so the same input gives the same image.

Each function writes one PNG and never fails on empty input: where there is nothing to
draw, the image says so. Figures are built without pyplot (no global figure registry),
and mathtext is off, so a candidate named `$x$` is drawn as written.
"""

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from netapi.outcomes import Outcome
from search_core.domain import EpochMetrics

NO_SUCCESS = "no successful candidates"

# The look of every nasforge plot (the search report and `nasforge compare`).
STYLE: dict[str, object] = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "text.parse_math": False,
    "text.usetex": False,
}

# A fixed colour per outcome: the same outcome looks the same in every report.
OUTCOME_COLORS: dict[Outcome, str] = {
    Outcome.SUCCESS: "#2ca02c",
    Outcome.NO_CODE: "#c7c7c7",
    Outcome.CANCELLED: "#7f7f7f",
    Outcome.SYNTAX_ERROR: "#ff9896",
    Outcome.TRUNCATED: "#c49c94",
    Outcome.HALLUCINATED_API: "#d62728",
    Outcome.API_NONCOMPLIANCE: "#ff7f0e",
    Outcome.SHAPE_MISMATCH: "#ffbb78",
    Outcome.FORBIDDEN_CODE: "#9467bd",
    Outcome.TOO_LARGE: "#c5b0d5",
    Outcome.RUNTIME_ERROR: "#8c564b",
    Outcome.TIMEOUT: "#e377c2",
    Outcome.OOM: "#f7b6d2",
    Outcome.TRAINING_FAILURE: "#bcbd22",
    Outcome.DUPLICATE: "#17becf",
    Outcome.INFRA_ERROR: "#1f77b4",
    Outcome.PROMPT_TOO_LONG: "#dbdb8d",
}

LINE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def plot_label(text: str, limit: int = 48) -> str:
    """One line, at most `limit` characters; matplotlib hides legend labels starting with "_"."""
    line = " ".join(text.split())
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    return line if line and not line.startswith("_") else f" {line}"


def human_count(value: float) -> str:
    """1.5M, 300k, 12: short plain-text tick labels for parameter counts."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}"


def _color(index: int) -> str:
    return LINE_COLORS[index % len(LINE_COLORS)]


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_outcomes(path: Path, labels: Sequence[str], counts: Sequence[dict[Outcome, int]]) -> Path:
    """One horizontal bar per search, stacked by outcome share."""
    with matplotlib.style.context(["default", STYLE]):
        fig = Figure(figsize=(8, 1.6 + 0.5 * max(1, len(labels))))
        ax = fig.add_subplot()
        present = [o for o in Outcome if any(c.get(o, 0) for c in counts)]
        if not present:
            _empty(ax, "no evaluated candidates")
        else:
            rows = list(range(len(labels)))
            left = [0.0] * len(labels)
            for outcome in present:
                shares = [100.0 * c.get(outcome, 0) / (sum(c.values()) or 1) for c in counts]
                ax.barh(rows, shares, left=left, color=OUTCOME_COLORS[outcome], label=outcome.value)
                left = [a + b for a, b in zip(left, shares, strict=True)]
            ax.set_yticks(rows, [plot_label(label) for label in labels])
            ax.invert_yaxis()
            ax.set_xlim(0, 100)
            ax.set_xlabel("share of evaluated candidates (%)")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title("Outcomes per search")
        fig.tight_layout()
        return _save(fig, path)


def plot_running_best(
    path: Path,
    series: Sequence[tuple[str, Sequence[float | None]]],
    metric: str,
    baselines: dict[str, float] | None = None,
) -> Path:
    """Best score so far against attempts evaluated, one line per search, baselines dashed."""
    with matplotlib.style.context(["default", STYLE]):
        fig = Figure(figsize=(10, 4.5))
        ax = fig.add_subplot()
        if not any(v is not None for _, values in series for v in values):
            _empty(ax, NO_SUCCESS)
        else:
            for index, (label, values) in enumerate(series):
                xs = [i + 1 for i, v in enumerate(values) if v is not None]
                ys = [v for v in values if v is not None]
                name = plot_label(label) + ("" if ys else f" ({NO_SUCCESS})")
                ax.step(xs, ys, where="post", color=_color(index), label=name, linewidth=1.8)
            for index, name in enumerate(sorted(baselines or {})):
                score = (baselines or {})[name]
                if math.isfinite(score):
                    ax.axhline(
                        score,
                        color="#555555",
                        linestyle=("--", ":", "-.")[index % 3],
                        linewidth=1.0,
                        label=plot_label(f"baseline {name} = {score:.4f}"),
                    )
            ax.set_xlabel("candidates evaluated (infra errors excluded)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(f"best {metric} so far")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title(f"Best {metric} vs candidates evaluated")
        fig.tight_layout()
        return _save(fig, path)


def plot_pareto(
    path: Path,
    series: Sequence[tuple[str, Sequence[tuple[int, float]], Sequence[tuple[int, float]]]],
    metric: str,
) -> Path:
    """Score vs parameter count per search: all successes faint, the Pareto front drawn."""
    with matplotlib.style.context(["default", STYLE]):
        fig = Figure(figsize=(10, 4.5))
        ax = fig.add_subplot()
        if not any(points for _, points, _ in series):
            _empty(ax, NO_SUCCESS)
        else:
            for index, (label, points, front) in enumerate(series):
                color, marker = _color(index), _MARKERS[index % len(_MARKERS)]
                name = plot_label(label) + ("" if points else f" ({NO_SUCCESS})")
                ax.scatter(
                    [p for p, _ in points],
                    [s for _, s in points],
                    color=color,
                    marker=marker,
                    alpha=0.35,
                    s=18,
                    label=name,
                )
                if front:
                    ax.plot(
                        [p for p, _ in front],
                        [s for _, s in front],
                        color=color,
                        marker=marker,
                        drawstyle="steps-post",
                        linewidth=1.6,
                        markersize=6,
                        label=plot_label(f"{label} front"),
                    )
            sizes = [p for _, points, _ in series for p, _ in points]
            # Log scale only across two decades or more; tick labels in plain text either
            # way, since mathtext (which matplotlib's log labels use) is switched off.
            if min(sizes) > 0 and max(sizes) / min(sizes) >= 100:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: human_count(value)))
            ax.set_xlabel("parameters")
            ax.set_ylabel(metric)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title(f"Pareto front: {metric} vs parameters")
        fig.tight_layout()
        return _save(fig, path)


def plot_curves(
    path: Path, title: str, curves: Sequence[tuple[str, Sequence[EpochMetrics]]], metric: str
) -> Path:
    """Validation metric against epoch, one line per candidate."""
    with matplotlib.style.context(["default", STYLE]):
        fig = Figure(figsize=(10, 4.5))
        ax = fig.add_subplot()
        drawn = False
        for index, (label, epochs) in enumerate(curves):
            points = sorted(
                (e.epoch, e.validation_metric) for e in epochs if math.isfinite(e.validation_metric)
            )
            if points:
                drawn = True
                ax.plot(
                    [x for x, _ in points],
                    [y for _, y in points],
                    color=_color(index),
                    marker=_MARKERS[index % len(_MARKERS)],
                    markersize=4,
                    label=plot_label(label),
                )
        if drawn:
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(f"validation {metric}")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            _empty(ax, "no epoch metrics")
        ax.set_title(plot_label(title, 80))
        fig.tight_layout()
        return _save(fig, path)
