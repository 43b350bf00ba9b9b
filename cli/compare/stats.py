"""The statistics of a comparison, as pure functions over the gathered RunResults.

Every figure chooses a model by its validation score, never by its test score: the test
figure of the validation winner is what a user of the method would really get, while the
best test score of a search is an optimistic, selected-on-test number.
"""

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import combinations

from cli.compare.config import Budget, CompareConfig
from cli.compare.records import SUCCESS, CandidateResult, RunResult

CONFIDENCE = 0.95
TIME_GRID_POINTS = 40


@dataclass(frozen=True)
class Interval:
    """Mean over seeds with its 95% t-interval; no interval from a single seed."""

    mean: float
    low: float | None
    high: float | None
    n: int


@dataclass(frozen=True)
class Spent:
    """Budget actually spent, in the units the budget is stated in (reproducible figures)."""

    candidates: float  # finished candidates: each one took a slot of max_candidates
    trained: float  # candidates that trained at least one epoch
    successes: float
    epochs: float
    samples: float  # training samples seen: epochs x train_samples


@dataclass(frozen=True)
class Timing:
    """Wall time spent; differs between reruns, so it is kept apart from the figures."""

    training_seconds: float
    llm_seconds: float


@dataclass(frozen=True)
class SeedSummary:
    seed: int
    search_id: str
    state: str
    best_name: str | None
    best_validation: float | None
    test_of_best: float | None
    curve: tuple[float | None, ...]  # best validation so far after each candidate
    time_curve: tuple[float | None, ...]  # the same on the comparison's time grid
    spent: Spent
    timing: Timing


@dataclass(frozen=True)
class MethodSummary:
    label: str
    method: str
    seeds: tuple[SeedSummary, ...]
    curve: tuple[Interval | None, ...]
    time_curve: tuple[Interval | None, ...]
    best_validation: Interval | None
    test_of_best: Interval | None
    spent: Spent  # means over seeds
    timing: Timing  # means over seeds


@dataclass(frozen=True)
class PairTest:
    """Two-sided Mann-Whitney U on the seeds' test-of-best scores of two methods."""

    first: str
    second: str
    n_first: int
    n_second: int
    u: float | None  # U of `first`; None when a side has no score
    p: float | None
    smallest_p: float | None  # the smallest p these sample sizes can reach


@dataclass(frozen=True)
class FriedmanTest:
    """Friedman chi-square across all methods, blocks = seeds where every method scored."""

    labels: tuple[str, ...]
    n: int
    statistic: float | None
    p: float | None
    note: str  # why there is no statistic, when there is none


@dataclass(frozen=True)
class Comparison:
    name: str
    task: str
    seeds: tuple[int, ...]
    budget: Budget
    methods: tuple[MethodSummary, ...]
    time_grid: tuple[float, ...]  # seconds of training + LLM time
    pairs: tuple[PairTest, ...]
    friedman: FriedmanTest | None  # None: fewer than 3 methods


def compare(config: CompareConfig, runs: Sequence[RunResult]) -> Comparison:
    """Everything the report shows, from the runs of `config` (any order)."""
    grid = time_grid(runs)
    methods = tuple(
        summarize_method(
            entry.label,
            entry.method,
            [run for run in runs if run.label == entry.label],
            config.budget.train_samples,
            grid,
        )
        for entry in config.methods
    )
    return Comparison(
        name=config.name,
        task=config.task_name,
        seeds=config.seeds,
        budget=config.budget,
        methods=methods,
        time_grid=grid,
        pairs=pairwise_mann_whitney(methods),
        friedman=friedman(methods) if len(methods) >= 3 else None,
    )


# -- one run


def scored(candidate: CandidateResult) -> float | None:
    """The validation score a candidate adds to its search: none unless it succeeded."""
    return candidate.validation if candidate.outcome == SUCCESS else None


def anytime_curve(candidates: Sequence[CandidateResult]) -> tuple[float | None, ...]:
    """Best validation so far after each candidate; a failed one spends a slot, adds nothing."""
    curve: list[float | None] = []
    best: float | None = None
    for candidate in candidates:
        score = scored(candidate)
        if score is not None and (best is None or score > best):
            best = score
        curve.append(best)
    return tuple(curve)


def cumulative_seconds(candidates: Sequence[CandidateResult]) -> tuple[float, ...]:
    """Training plus LLM seconds spent once each candidate has finished."""
    total, points = 0.0, []
    for candidate in candidates:
        total += candidate.seconds
        points.append(total)
    return tuple(points)


def total_seconds(candidates: Sequence[CandidateResult]) -> float:
    spent = cumulative_seconds(candidates)
    return spent[-1] if spent else 0.0


def curve_at_times(
    candidates: Sequence[CandidateResult], grid: Sequence[float]
) -> tuple[float | None, ...]:
    """The anytime curve read at each grid time. A run that ended before a grid time keeps
    its final best there: it is what the run would hand over at that time, and dropping it
    would let the mean over seeds fall as faster seeds leave the average."""
    curve, spent = anytime_curve(candidates), cumulative_seconds(candidates)
    if not spent:
        return ()
    values: list[float | None] = []
    for time in grid:
        done = sum(1 for point in spent if point <= time)
        values.append(curve[done - 1] if done else None)
    return tuple(values)


def best_candidate(candidates: Sequence[CandidateResult]) -> CandidateResult | None:
    """The validation winner (the earliest of equals), whatever the test scores say."""
    best = None
    for candidate in candidates:
        score = scored(candidate)
        if score is not None and (best is None or score > scored(best)):
            best = candidate
    return best


def spent_budget(candidates: Sequence[CandidateResult], train_samples: int) -> Spent:
    epochs = sum(candidate.epochs for candidate in candidates)
    return Spent(
        candidates=len(candidates),
        trained=sum(1 for candidate in candidates if candidate.epochs > 0),
        successes=sum(1 for candidate in candidates if candidate.outcome == SUCCESS),
        epochs=epochs,
        samples=epochs * train_samples,
    )


def timing(candidates: Sequence[CandidateResult]) -> Timing:
    return Timing(
        training_seconds=sum(candidate.training_seconds for candidate in candidates),
        llm_seconds=sum(candidate.llm_seconds for candidate in candidates),
    )


def summarize_seed(run: RunResult, train_samples: int, grid: Sequence[float]) -> SeedSummary:
    best = best_candidate(run.candidates)
    return SeedSummary(
        seed=run.seed,
        search_id=run.search_id,
        state=run.state,
        best_name=best.name if best else None,
        best_validation=best.validation if best else None,
        test_of_best=best.test if best else None,
        curve=anytime_curve(run.candidates),
        time_curve=curve_at_times(run.candidates, grid),
        spent=spent_budget(run.candidates, train_samples),
        timing=timing(run.candidates),
    )


def time_grid(runs: Sequence[RunResult], points: int = TIME_GRID_POINTS) -> tuple[float, ...]:
    """Evenly spaced times up to the longest run, shared by all methods so curves align."""
    longest = max((total_seconds(run.candidates) for run in runs), default=0.0)
    if longest <= 0:
        return ()
    return (*(longest * step / points for step in range(1, points)), longest)


# -- over seeds


def interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """Mean and two-sided t-interval (sample standard deviation); None without values."""
    from scipy.stats import t

    if not values:
        return None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Interval(mean, None, None, len(values))
    half = t.ppf((1 + confidence) / 2, len(values) - 1) * statistics.stdev(values)
    half /= math.sqrt(len(values))
    return Interval(mean, mean - float(half), mean + float(half), len(values))


def curve_intervals(curves: Sequence[Sequence[float | None]]) -> tuple[Interval | None, ...]:
    """At each budget point, the interval over the seeds that reached it with a score."""
    length = max((len(curve) for curve in curves), default=0)
    return tuple(
        interval([c[k] for c in curves if k < len(c) and c[k] is not None]) for k in range(length)
    )


def summarize_method(
    label: str,
    method: str,
    runs: Sequence[RunResult],
    train_samples: int,
    grid: Sequence[float],
) -> MethodSummary:
    seeds = tuple(summarize_seed(run, train_samples, grid) for run in sorted(runs, key=_seed))
    return MethodSummary(
        label=label,
        method=method,
        seeds=seeds,
        curve=curve_intervals([seed.curve for seed in seeds]),
        time_curve=curve_intervals([seed.time_curve for seed in seeds]),
        best_validation=interval(_present(seed.best_validation for seed in seeds)),
        test_of_best=interval(_present(seed.test_of_best for seed in seeds)),
        spent=_mean_of(Spent, [seed.spent for seed in seeds]),
        timing=_mean_of(Timing, [seed.timing for seed in seeds]),
    )


# -- between methods


def smallest_two_sided_p(n_first: int, n_second: int) -> float:
    """The smallest p an exact two-sided Mann-Whitney test reaches with these sizes (no
    ties): one ordering of 'all of one side above the other' among C(n1+n2, n1), twice."""
    return min(1.0, 2 / math.comb(n_first + n_second, n_first))


def mann_whitney(first: MethodSummary, second: MethodSummary) -> PairTest:
    from scipy.stats import mannwhitneyu

    x, y = _finals(first), _finals(second)
    if not x or not y:
        return PairTest(first.label, second.label, len(x), len(y), None, None, None)
    result = mannwhitneyu(x, y, alternative="two-sided")
    return PairTest(
        first.label,
        second.label,
        len(x),
        len(y),
        float(result.statistic),
        float(result.pvalue),
        smallest_two_sided_p(len(x), len(y)),
    )


def pairwise_mann_whitney(methods: Sequence[MethodSummary]) -> tuple[PairTest, ...]:
    return tuple(mann_whitney(a, b) for a, b in combinations(methods, 2))


def friedman(methods: Sequence[MethodSummary]) -> FriedmanTest:
    """Seeds pair the methods (seed s of one against seed s of the others); a seed where a
    method has no test score is left out of every method's column."""
    from scipy.stats import friedmanchisquare

    labels = tuple(method.label for method in methods)
    by_seed = [{seed.seed: seed.test_of_best for seed in method.seeds} for method in methods]
    blocks = sorted(
        set.intersection(*({s for s, v in m.items() if v is not None} for m in by_seed))
    )
    if len(blocks) < 2:
        return FriedmanTest(
            labels, len(blocks), None, None, "needs 2 or more seeds scored by every method"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-tied blocks: nan, said below
        result = friedmanchisquare(*([scores[s] for s in blocks] for scores in by_seed))
    if math.isnan(result.statistic):
        return FriedmanTest(labels, len(blocks), None, None, "every seed ties all methods")
    return FriedmanTest(labels, len(blocks), float(result.statistic), float(result.pvalue), "")


def _finals(method: MethodSummary) -> list[float]:
    return _present(seed.test_of_best for seed in method.seeds)


def _present(values) -> list[float]:
    return [value for value in values if value is not None]


def _mean_of(kind, rows):
    """Field-wise means of dataclass rows of one `kind` (zeros when there are none)."""
    return kind(
        **{
            field.name: statistics.fmean(getattr(row, field.name) for row in rows) if rows else 0.0
            for field in fields(kind)
        }
    )


def _seed(run: RunResult) -> int:
    return run.seed
