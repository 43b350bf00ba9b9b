"""Escaping and formats of the Markdown, and plots that survive empty and hostile input."""

from pathlib import Path

import matplotlib.image
import pytest

from netapi.outcomes import Outcome
from search_core.domain import EpochMetrics
from search_core.report import plots
from search_core.report.text import (
    escape,
    excerpt,
    fmt_count_rate,
    fmt_duration,
    fmt_score,
    fmt_time,
    table,
)
from tests.unit.search_core.report.mdparse import PNG_MAGIC


def test_escape_keeps_text_in_one_cell() -> None:
    assert escape("a|b") == "a\\|b"
    assert escape("line\none\r\n\ttwo") == "line one two"
    assert escape("<b>*x*_y_ `z` [l](u) \\") == "\\<b\\>\\*x\\*\\_y\\_ \\`z\\` \\[l\\](u) \\\\"
    assert escape("\x1b[31mred") == "\\[31mred"
    assert escape(42) == "42"


@pytest.mark.parametrize("limit", [10, 40, 120])
def test_excerpt_is_bounded_after_escaping(limit: int) -> None:
    text = "|" * 500 + "\n" + "x" * 500
    out = excerpt(text, limit)
    assert len(out) <= limit
    assert out.endswith("…")
    assert "\n" not in out
    assert "|" not in out.replace("\\|", "")
    assert excerpt("short | text") == "short \\| text"
    assert excerpt("x" * 120) == "x" * 120  # exactly at the limit: not cut


def test_formats() -> None:
    assert table(["a", "b"], [["1", "2"]], (1,)) == "| a | b |\n|---|---:|\n| 1 | 2 |"
    assert fmt_score(None) == fmt_score(float("nan")) == "n/a"
    assert fmt_score(0.32456) == "0.3246"
    assert fmt_count_rate(1, 3) == "33.3% (1/3)"
    assert fmt_count_rate(0, 0) == "n/a (0/0)"
    assert fmt_duration(3723.4) == "1h 02m 03s"
    assert fmt_duration(75) == "1m 15s"
    assert fmt_duration(None) == "n/a"
    assert fmt_time(0) == "1970-01-01 00:00:00 UTC"


def _valid_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5_000
    assert matplotlib.image.imread(path).ndim == 3


def test_plots_survive_empty_input(tmp_path: Path) -> None:
    _valid_png(plots.plot_outcomes(tmp_path / "o.png", [], []))
    _valid_png(plots.plot_outcomes(tmp_path / "o2.png", ["#1 x"], [{}]))
    _valid_png(plots.plot_running_best(tmp_path / "r.png", [], "accuracy"))
    _valid_png(plots.plot_running_best(tmp_path / "r2.png", [("#1 x", [None, None])], "BLEU-4"))
    _valid_png(plots.plot_pareto(tmp_path / "p.png", [("#1 x", [], [])], "accuracy"))
    _valid_png(plots.plot_curves(tmp_path / "c.png", "t", [], "accuracy"))
    nan_epoch = EpochMetrics(epoch=1, train_loss=1.0, validation_metric=float("nan"))
    _valid_png(plots.plot_curves(tmp_path / "c2.png", "t", [("a", [nan_epoch])], "accuracy"))


def test_plots_with_hostile_labels_and_mixed_series(tmp_path: Path) -> None:
    hostile = "$\\frac{1}{0}$ _hidden\n|name ^{x}" * 5
    epochs = [EpochMetrics(epoch=e, train_loss=1.0, validation_metric=0.1 * e) for e in (1, 2)]
    _valid_png(plots.plot_curves(tmp_path / "c.png", hostile, [(hostile, epochs)], "BLEU-4"))
    _valid_png(
        plots.plot_running_best(
            tmp_path / "r.png",
            [(hostile, [None, 0.2, 0.3]), ("#2 random", [None, None])],
            "accuracy",
            {hostile: 0.25, "inf": float("inf")},
        )
    )
    _valid_png(
        plots.plot_pareto(
            tmp_path / "p.png",
            [(hostile, [(10, 0.5), (10_000, 0.7)], [(10, 0.5), (10_000, 0.7)]), ("b", [], [])],
            "accuracy",
        )
    )
    _valid_png(
        plots.plot_outcomes(tmp_path / "o.png", [hostile], [{Outcome.SUCCESS: 2, Outcome.OOM: 1}])
    )


def test_plot_label() -> None:
    assert plots.plot_label("a\nb") == "a b"
    assert plots.plot_label("_x") == " _x"  # matplotlib would hide it from the legend
    assert len(plots.plot_label("x" * 100)) == 48
    assert plots.human_count(2_500_000) == "2.5M"
    assert plots.human_count(300) == "300"
