"""The accuracy/size Pareto front, non-dominated ranks and the small/large split."""

import pytest

from search_core.pareto import (
    ParetoPoint,
    dominates,
    pareto_front,
    pareto_ranks,
    split_small_large,
)

# score (accuracy, maximised), size (parameters, minimised)
POINTS = [
    ParetoPoint("tiny", 0.60, 1_000),
    ParetoPoint("small", 0.80, 10_000),
    ParetoPoint("small-worse", 0.70, 12_000),  # dominated by small
    ParetoPoint("mid", 0.85, 50_000),
    ParetoPoint("mid-twin", 0.85, 50_000),  # equal to mid: neither dominates
    ParetoPoint("big-worse", 0.84, 200_000),  # dominated by mid
    ParetoPoint("big", 0.90, 400_000),
    ParetoPoint("huge-worse", 0.50, 900_000),  # dominated by everything but itself
]


def ids(points):
    return [p.id for p in points]


def test_dominance_needs_one_strict_improvement():
    a, b = ParetoPoint("a", 0.9, 10), ParetoPoint("b", 0.9, 10)
    assert not dominates(a, b) and not dominates(b, a)
    assert dominates(ParetoPoint("c", 0.9, 5), a)
    assert dominates(ParetoPoint("d", 0.95, 10), a)
    assert not dominates(ParetoPoint("e", 0.95, 20), a)


def test_front_is_the_non_dominated_points_smallest_first():
    assert ids(pareto_front(POINTS)) == ["tiny", "small", "mid", "mid-twin", "big"]
    assert pareto_front(reversed(POINTS)) == pareto_front(POINTS)
    assert pareto_front([]) == []


def test_ranks_peel_the_fronts():
    assert pareto_ranks(POINTS) == {
        "tiny": 0,
        "small": 0,
        "mid": 0,
        "mid-twin": 0,
        "big": 0,
        "small-worse": 1,
        "big-worse": 1,
        "huge-worse": 2,
    }


def test_ranks_of_a_long_chain_are_fast_and_exact():
    chain = [ParetoPoint(f"p{i}", 1.0 - i / 1000, 10 + i) for i in range(500)]
    ranks = pareto_ranks(chain)
    assert [ranks[f"p{i}"] for i in range(500)] == list(range(500))


def test_split_at_the_median_size_of_the_front():
    small, large = split_small_large(pareto_front(POINTS))
    assert ids(small) == ["tiny", "small", "mid", "mid-twin"]  # median = 50,000
    assert ids(large) == ["big"]
    small, large = split_small_large(pareto_front(POINTS[:2] + POINTS[6:7]))
    assert ids(small) == ["tiny", "small"] and ids(large) == ["big"]
    assert split_small_large([POINTS[0]]) == ([POINTS[0]], [])
    assert split_small_large([]) == ([], [])


def test_nan_scores_and_repeated_ids_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        ParetoPoint("x", float("nan"), 1)
    with pytest.raises(ValueError, match="unique"):
        pareto_ranks([POINTS[0], POINTS[0]])
