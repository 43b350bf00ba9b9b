"""The comparison's statistics on small hand-computed cases."""

import math

import pytest

from cli.compare.config import parse_compare_config
from cli.compare.records import CandidateResult, RunResult
from cli.compare.stats import (
    Interval,
    anytime_curve,
    best_candidate,
    compare,
    curve_at_times,
    curve_intervals,
    interval,
    smallest_two_sided_p,
    spent_budget,
    time_grid,
)

T_975_2 = 4.302652729749462  # scipy.stats.t.ppf(0.975, 2), from a table: 4.303


def ok(validation, test=None, *, name="m", epochs=1, seconds=1.0, llm=0.0):
    return CandidateResult(name, "success", validation, test, epochs, seconds, llm)


def failed(outcome="shape_mismatch", *, validation=None, epochs=0, seconds=0.0, llm=0.0):
    return CandidateResult("bad", outcome, validation, None, epochs, seconds, llm)


def run(label, seed, *candidates, method="random"):
    return RunResult(label, method, seed, f"s-{label}-{seed}", "succeeded", tuple(candidates))


def config(labels, seeds=(1, 2, 3)):
    return parse_compare_config(
        {
            "name": "t",
            "seeds": list(seeds),
            "budget": {
                "max_candidates": 3,
                "epochs": 2,
                "train_samples": 100,
                "validation_samples": 10,
                "test_samples": 10,
            },
            "task": {},
            "methods": [{"label": label, "method": "random"} for label in labels],
        }
    )


def test_the_curve_keeps_the_best_validation_and_failures_add_nothing():
    candidates = [
        ok(0.5),
        failed(),
        ok(0.4),
        ok(0.7),
        failed("training_failure", validation=0.9, epochs=1),  # diverged: its score is not one
    ]
    assert anytime_curve(candidates) == (0.5, 0.5, 0.5, 0.7, 0.7)
    assert anytime_curve([failed(), ok(0.3)]) == (None, 0.3)


def test_the_best_model_is_the_validation_winner_even_when_another_tests_higher():
    winner = ok(0.8, 0.6, name="by-validation")
    candidates = [ok(0.7, 0.9, name="by-test"), winner, failed()]
    assert best_candidate(candidates) is winner
    assert best_candidate([ok(0.8, 0.1, name="first"), ok(0.8, 0.9)]).name == "first"
    assert best_candidate([failed()]) is None


def test_the_95_percent_t_interval():
    result = interval([1.0, 2.0, 3.0])  # mean 2, sample sd 1
    half = T_975_2 / math.sqrt(3)
    assert result.mean == 2.0 and result.n == 3
    assert result.low == pytest.approx(2 - half) and result.high == pytest.approx(2 + half)
    assert result.low == pytest.approx(-0.4841, abs=1e-4)
    assert interval([0.5]) == Interval(0.5, None, None, 1)
    assert interval([]) is None
    same = interval([0.4, 0.4])
    assert (same.low, same.high) == (0.4, 0.4)


def test_curve_intervals_use_the_seeds_that_have_a_score_at_each_point():
    points = curve_intervals([(None, 0.2, 0.4), (0.1, 0.3), (None, None, 0.6)])
    assert points[0] == Interval(0.1, None, None, 1)
    assert points[1].mean == pytest.approx(0.25) and points[1].n == 2
    assert points[2].mean == pytest.approx(0.5) and points[2].n == 2
    assert curve_intervals([(None,), (None,)]) == (None,)


def test_the_curve_against_time_counts_training_and_llm_seconds():
    candidates = [ok(0.2, seconds=6.0, llm=4.0), failed(seconds=20.0), ok(0.5, seconds=5.0)]
    # spent after each: 10, 30, 35 seconds
    # after 35 s the run has ended: its final best stands
    assert curve_at_times(candidates, [5, 10, 29, 30, 35, 40]) == (None, 0.2, 0.2, 0.2, 0.5, 0.5)
    assert time_grid([run("a", 1, *candidates)], points=5) == (7.0, 14.0, 21.0, 28.0, 35.0)
    assert time_grid([run("a", 1)]) == ()


def test_the_budget_spent_is_counted_in_the_stated_units():
    candidates = [ok(0.2, epochs=2), failed(), failed("training_failure", epochs=1)]
    spent = spent_budget(candidates, train_samples=100)
    assert (spent.candidates, spent.trained, spent.successes) == (3, 2, 1)
    assert (spent.epochs, spent.samples) == (3, 300)


def test_mann_whitney_three_against_three_reaches_at_best_p_0_1():
    assert smallest_two_sided_p(3, 3) == pytest.approx(0.1)  # 2 / C(6, 3)
    runs = [run("a", seed, ok(0.9, test)) for seed, test in ((1, 0.9), (2, 0.8), (3, 0.85))]
    runs += [run("b", seed, ok(0.5, test)) for seed, test in ((1, 0.5), (2, 0.6), (3, 0.55))]
    (pair,) = compare(config(["a", "b"]), runs).pairs
    assert (pair.first, pair.second, pair.n_first, pair.n_second) == ("a", "b", 3, 3)
    assert pair.u == 9.0  # every a above every b
    assert pair.p == pytest.approx(0.1)
    assert pair.smallest_p == pytest.approx(0.1)


def test_mann_whitney_with_a_side_without_scores_has_no_statistic():
    runs = [run("a", 1, ok(0.9, 0.9)), run("b", 1, failed())]
    (pair,) = compare(config(["a", "b"], seeds=[1]), runs).pairs
    assert (pair.n_first, pair.n_second, pair.u, pair.p) == (1, 0, None, None)


def test_friedman_across_three_methods_paired_by_seed():
    # Every seed ranks a > b > c: chi2 = 12/(3*3*4) * (9^2 + 6^2 + 3^2) - 3*3*4 = 6
    tests = {"a": (0.9, 0.8, 0.7), "b": (0.6, 0.5, 0.4), "c": (0.3, 0.2, 0.1)}
    runs = [
        run(label, seed, ok(0.5, score))
        for label, scores in tests.items()
        for seed, score in zip((1, 2, 3), scores, strict=True)
    ]
    result = compare(config(["a", "b", "c"]), runs)
    assert result.friedman.n == 3
    assert result.friedman.statistic == pytest.approx(6.0)
    assert result.friedman.p == pytest.approx(math.exp(-3.0))  # chi-square, 2 df
    assert len(result.pairs) == 3
    assert compare(config(["a", "b"]), runs).friedman is None


def test_friedman_leaves_out_seeds_a_method_did_not_score_and_says_when_all_tie():
    runs = [run(label, seed, ok(0.5, 0.5)) for label in "abc" for seed in (1, 2)]
    runs += [run(label, 3, failed() if label == "c" else ok(0.5, 0.1)) for label in "abc"]
    test = compare(config(["a", "b", "c"]), runs).friedman
    assert (test.n, test.statistic, test.p) == (2, None, None)
    assert test.note == "every seed ties all methods"


def test_method_summaries_average_the_seeds():
    runs = [
        run("a", 1, ok(0.8, 0.6, name="x", epochs=2, seconds=3.0), failed()),
        run("a", 2, ok(0.6, 0.7, name="y", epochs=2, seconds=1.0, llm=2.0)),
    ]
    (method,) = compare(config(["a"], seeds=[1, 2]), runs).methods
    assert [seed.best_name for seed in method.seeds] == ["x", "y"]
    assert method.best_validation.mean == pytest.approx(0.7)
    assert method.test_of_best.mean == pytest.approx(0.65)
    assert (method.spent.candidates, method.spent.successes, method.spent.samples) == (1.5, 1, 200)
    assert (method.timing.training_seconds, method.timing.llm_seconds) == (2.0, 1.0)
    assert [point.n for point in method.curve] == [2, 1]
