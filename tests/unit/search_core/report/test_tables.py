"""The report's numbers: rates without infra errors, running best, Pareto front, ranking."""

import math

from netapi.outcomes import Outcome
from search_core.domain import Method
from search_core.report.tables import (
    budget_of,
    leaderboard,
    metric_name,
    outcome_counts,
    pareto_front,
    running_best,
    summarize,
    task_and_dataset,
    top_curves,
    wall_time,
)
from tests.unit.search_core.report.records import T0, candidate, search


def _sized(slot: int, score: float | None, params: int | None, outcome=Outcome.SUCCESS):
    return candidate("s", slot, f"m{slot}", outcome, score, parameter_count=params)


def test_rates_exclude_infra_errors() -> None:
    cands = [
        candidate("s", 0, "a", Outcome.SUCCESS, 0.5),
        candidate("s", 1, "b", Outcome.HALLUCINATED_API),
        candidate("s", 2, "c", Outcome.TOO_LARGE),
        candidate("s", 3, "d", Outcome.FORBIDDEN_CODE),
        candidate("s", 4, "e", Outcome.INFRA_ERROR),
        candidate("s", 5, "f", Outcome.INFRA_ERROR),
        candidate("s", 6, "g", None),
    ]
    summary = summarize(search("s", Method.RANDOM, {"max_candidates": 10}), cands)
    assert (summary.evaluated, summary.unfinished, summary.infra_errors) == (6, 1, 2)
    assert summary.attempts == 4
    assert summary.success_rate == 0.25
    assert summary.hallucination_rate == 0.25
    assert summary.compliance_rate == 0.5
    assert summary.budget == 10
    assert (summary.best_score, summary.best_name) == (0.5, "a")


def test_config_is_read_defensively() -> None:
    assert task_and_dataset(search("s", Method.RANDOM, {})) == ("", "")
    assert task_and_dataset(search("s", Method.RANDOM, {"task": "img-captioning"})) == (
        "img-captioning",
        "",
    )
    assert task_and_dataset(search("s", Method.RANDOM, {"task": {"dataset": 5}})) == ("", "5")
    assert budget_of(search("s", Method.RANDOM, {"max_candidates": "many"})) is None
    assert budget_of(search("s", Method.RANDOM, {"max_candidates": True})) is None
    assert metric_name(search("s", Method.NN_CAPTION, {})) == "BLEU-4"
    assert metric_name(search("s", Method.RANDOM, {"task": {"task": "img-captioning"}})) == "BLEU-4"
    assert metric_name(search("s", Method.FAIRNAD, {"task": None})) == "accuracy"


def test_outcome_counts_cover_every_outcome() -> None:
    counts = outcome_counts([candidate("s", 0, "a", Outcome.OOM), candidate("s", 1, "b", None)])
    assert list(counts) == list(Outcome)
    assert counts[Outcome.OOM] == 1
    assert sum(counts.values()) == 1


def test_running_best_follows_finishing_order() -> None:
    cands = [
        candidate("s", 0, "a", Outcome.SUCCESS, 0.7, finished_at=T0 + 300),
        candidate("s", 1, "b", Outcome.RUNTIME_ERROR, finished_at=T0 + 100),
        candidate("s", 2, "c", Outcome.SUCCESS, 0.6, finished_at=T0 + 200),
        candidate("s", 3, "d", Outcome.INFRA_ERROR, finished_at=T0 + 150),
        candidate("s", 4, "e", Outcome.SUCCESS, math.nan, finished_at=T0 + 400),
        candidate("s", 5, "f", Outcome.TRAINING_FAILURE, 0.99, finished_at=T0 + 500),
    ]
    # b (no success), c 0.6, a 0.7, e (NaN ignored), f (not a success); infra error skipped.
    assert running_best(cands) == [None, 0.6, 0.7, 0.7, 0.7]
    assert running_best([]) == []


def test_pareto_front_maximises_score_and_minimises_size() -> None:
    cands = [
        _sized(0, 0.80, 1_000),
        _sized(1, 0.70, 2_000),  # dominated by 0
        _sized(2, 0.90, 3_000),
        _sized(3, 0.90, 4_000),  # dominated by 2 (same score, larger)
        _sized(4, 0.95, 10_000),
        _sized(5, 0.85, 1_000),  # dominates 0 (same size, better)
        _sized(6, 0.99, None),  # no size: not on the plot
        _sized(7, 0.99, 500, Outcome.SHAPE_MISMATCH),  # not a success
    ]
    assert [c.name for c in pareto_front(cands)] == ["m5", "m2", "m4"]
    assert pareto_front([]) == []
    assert pareto_front([_sized(0, None, 10)]) == []


def test_leaderboard_ranks_by_score_then_size_then_name() -> None:
    cands = [
        _sized(0, 0.5, 300),
        _sized(1, 0.9, None),
        _sized(2, 0.9, 100),
        _sized(3, 0.7, 100),
        _sized(4, None, 100),
    ]
    assert [c.name for c in leaderboard(cands, 3)] == ["m2", "m1", "m3"]


def test_top_curves_only_with_epochs() -> None:
    cands = [
        candidate("s", 0, "a", Outcome.SUCCESS, 0.5),
        candidate("s", 1, "b", Outcome.SUCCESS, 0.9),
        candidate("s", 2, "c", Outcome.SHAPE_MISMATCH),
    ]
    assert [c.name for c in top_curves(cands, 1)] == ["b"]
    assert [c.name for c in top_curves(cands)] == ["b", "a"]


def test_wall_time_spans_search_and_candidates() -> None:
    record = search("s", Method.RANDOM, {})
    record.finished_at = None
    assert wall_time(record, []) is None
    cands = [candidate("s", 0, "a", Outcome.SUCCESS, 0.5), candidate("s", 4, "b", Outcome.OOM)]
    assert wall_time(record, cands) == 4 * 60 + 50
