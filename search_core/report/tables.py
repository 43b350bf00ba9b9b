"""The numbers of a search report: summaries, outcome counts, running best, Pareto fronts, ranks.

Pure functions over the records of search_core.domain; nothing here reads a store or
formats text. Rates follow ARCHITECTURE.md ("Outcomes and metrics") with one rule made
explicit: infra errors are our side breaking, never the model's fault, so every rate is
counted over the candidates evaluated minus infra errors.
"""

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from netapi.outcomes import Outcome
from search_core import pareto
from search_core.domain import CandidateRecord, Method, SearchRecord
from search_core.scores import headline_score

Search = tuple[SearchRecord, list[CandidateRecord]]

COMPLIANCE_OUTCOMES = frozenset(
    {Outcome.API_NONCOMPLIANCE, Outcome.SHAPE_MISMATCH, Outcome.FORBIDDEN_CODE, Outcome.TOO_LARGE}
)


def outcome_of(candidate: CandidateRecord) -> Outcome | None:
    """The candidate's final outcome, or None while it has none (or an unknown spelling)."""
    if candidate.outcome is None:
        return None
    try:
        return Outcome(candidate.outcome)
    except ValueError:
        return None


def ordered(candidates: Iterable[CandidateRecord]) -> list[CandidateRecord]:
    """Candidates in budget order, so that the report does not depend on the caller's order."""
    return sorted(candidates, key=lambda c: (c.slot, c.candidate_id))


def evaluated(candidates: Iterable[CandidateRecord]) -> list[CandidateRecord]:
    """Candidates that have a final outcome, infra errors included."""
    return [c for c in ordered(candidates) if outcome_of(c) is not None]


def attempts(candidates: Iterable[CandidateRecord]) -> list[CandidateRecord]:
    """The model's attempts: evaluated candidates minus infra errors (the rates' denominator)."""
    return [c for c in evaluated(candidates) if outcome_of(c) is not Outcome.INFRA_ERROR]


def finite_score(candidate: CandidateRecord) -> float | None:
    """The validation score the search chose by, when it is a number."""
    score = candidate.score
    if score is None or not math.isfinite(score):
        return None
    return float(score)


def held_out_score(search: SearchRecord, candidate: CandidateRecord) -> float | None:
    """The candidate's test score: shown beside the validation score, never ranked by."""
    task, _ = task_and_dataset(search)
    return headline_score(task, candidate.scores)


def is_success(candidate: CandidateRecord) -> bool:
    return outcome_of(candidate) is Outcome.SUCCESS


def scored_successes(candidates: Iterable[CandidateRecord]) -> list[CandidateRecord]:
    return [c for c in evaluated(candidates) if is_success(c) and finite_score(c) is not None]


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def config_value(config: Any, *keys: str) -> Any:
    """config[k1][k2]... or None when any level is missing or is not a dict."""
    value = config
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value)


def task_and_dataset(search: SearchRecord) -> tuple[str, str]:
    """(task, dataset) from config["task"]; a bare string under "task" is the task itself."""
    task = config_value(search.config, "task")
    if isinstance(task, dict):
        return _text(task.get("task")), _text(task.get("dataset"))
    return _text(task), _text(config_value(search.config, "dataset"))


def metric_name(search: SearchRecord) -> str:
    """What a score means for this search: BLEU-4 for captioning, accuracy otherwise."""
    task, _ = task_and_dataset(search)
    if search.method == Method.NN_CAPTION or "caption" in task.lower():
        return "BLEU-4"
    return "accuracy"


def budget_of(search: SearchRecord) -> int | None:
    budget = config_value(search.config, "max_candidates")
    if isinstance(budget, bool) or not isinstance(budget, int | float):
        return None
    return int(budget)


@dataclass(frozen=True)
class SearchSummary:
    """The headline numbers of one search."""

    method: str
    task: str
    dataset: str
    metric: str
    budget: int | None
    state: str
    evaluated: int  # candidates with a final outcome, infra errors included
    unfinished: int  # candidates still without an outcome
    infra_errors: int
    attempts: int  # evaluated - infra_errors: the denominator of every rate
    successes: int
    hallucinated: int
    compliance_failures: int
    duplicates: int
    best_score: float | None  # the best validation score
    best_test: float | None  # the test score of the candidate best on validation
    best_name: str
    wall_time_s: float | None
    spent: "BudgetSpent"

    @property
    def success_rate(self) -> float | None:
        return ratio(self.successes, self.attempts)

    @property
    def hallucination_rate(self) -> float | None:
        return ratio(self.hallucinated, self.attempts)

    @property
    def compliance_rate(self) -> float | None:
        return ratio(self.compliance_failures, self.attempts)


@dataclass(frozen=True)
class BudgetSpent:
    """What a search actually spent, in the units every method shares."""

    trained: int  # candidates that ran at least one epoch
    epochs: int
    samples: int  # training samples seen: epochs x the configured train_samples
    training_s: float  # the trainer's epoch wall times
    llm_s: float  # time the LLM spent writing and repairing code


def budget_spent(search: SearchRecord, candidates: Sequence[CandidateRecord]) -> BudgetSpent:
    train_samples = config_value(search.config, "training", "train_samples")
    per_epoch = train_samples if isinstance(train_samples, int) else 0
    epochs = sum(len(c.epochs) for c in candidates)
    return BudgetSpent(
        trained=sum(1 for c in candidates if c.epochs),
        epochs=epochs,
        samples=epochs * per_epoch,
        training_s=sum(e.wall_time_ms for c in candidates for e in c.epochs) / 1000,
        llm_s=sum(float(c.llm_usage.get("seconds", 0.0)) for c in candidates),
    )


def wall_time(search: SearchRecord, candidates: Sequence[CandidateRecord]) -> float | None:
    """Seconds from the first created_at to the last finished_at (search and candidates)."""
    starts = [search.created_at, *(c.created_at for c in candidates)]
    ends = [t for t in [search.finished_at, *(c.finished_at for c in candidates)] if t is not None]
    if not ends:
        return None
    span = max(ends) - min(starts)
    return span if span >= 0 else None


def summarize(search: SearchRecord, candidates: Sequence[CandidateRecord]) -> SearchSummary:
    done = evaluated(candidates)
    counts = Counter(outcome_of(c) for c in done)
    best = leaderboard(scored_successes(candidates), 1)
    task, dataset = task_and_dataset(search)
    return SearchSummary(
        method=str(search.method),
        task=task,
        dataset=dataset,
        metric=metric_name(search),
        budget=budget_of(search),
        state=str(search.state),
        evaluated=len(done),
        unfinished=len(candidates) - len(done),
        infra_errors=counts[Outcome.INFRA_ERROR],
        attempts=len(done) - counts[Outcome.INFRA_ERROR],
        successes=counts[Outcome.SUCCESS],
        hallucinated=counts[Outcome.HALLUCINATED_API],
        compliance_failures=sum(counts[o] for o in COMPLIANCE_OUTCOMES),
        duplicates=counts[Outcome.DUPLICATE],
        best_score=finite_score(best[0]) if best else None,
        best_test=held_out_score(search, best[0]) if best else None,
        best_name=best[0].name if best else "",
        wall_time_s=wall_time(search, candidates),
        spent=budget_spent(search, candidates),
    )


def outcome_counts(candidates: Iterable[CandidateRecord]) -> dict[Outcome, int]:
    """Every outcome, in the enum's order, with its count (zeros included)."""
    counts = Counter(outcome_of(c) for c in evaluated(candidates))
    return {outcome: counts[outcome] for outcome in Outcome}


def finishing_order(candidates: Iterable[CandidateRecord]) -> list[CandidateRecord]:
    """The model's attempts in the order they finished (budget order breaks ties)."""
    return sorted(
        attempts(candidates),
        key=lambda c: (c.finished_at is None, c.finished_at or 0.0, c.slot, c.candidate_id),
    )


def running_best(candidates: Iterable[CandidateRecord]) -> list[float | None]:
    """Best successful score after each attempt in finishing order; None before the first."""
    best: float | None = None
    curve: list[float | None] = []
    for candidate in finishing_order(candidates):
        score = finite_score(candidate)
        if is_success(candidate) and score is not None and (best is None or score > best):
            best = score
        curve.append(best)
    return curve


def pareto_front(candidates: Iterable[CandidateRecord]) -> list[CandidateRecord]:
    """Successful candidates not dominated in (maximise score, minimise parameter_count).

    The front is search_core.pareto's; exact ties keep one representative (the first by
    name), and the front is sorted by parameter count.
    """
    points = {
        c.candidate_id: c for c in scored_successes(candidates) if c.parameter_count is not None
    }
    front = pareto.pareto_front(
        pareto.ParetoPoint(c.candidate_id, finite_score(c), c.parameter_count)
        for c in points.values()
    )
    representatives: dict[tuple[float, float], CandidateRecord] = {}
    for point in front:
        candidate = points[point.id]
        key = (point.size, point.score)
        kept = representatives.get(key)
        if kept is None or (candidate.name, candidate.candidate_id) < (
            kept.name,
            kept.candidate_id,
        ):
            representatives[key] = candidate
    return [representatives[key] for key in sorted(representatives, key=lambda k: (k[0], -k[1]))]


def leaderboard(candidates: Iterable[CandidateRecord], n: int = 10) -> list[CandidateRecord]:
    """The n best-scored evaluated candidates; smaller models, then names, break ties."""
    scored = [c for c in evaluated(candidates) if finite_score(c) is not None]
    scored.sort(
        key=lambda c: (
            -(finite_score(c) or 0.0),
            c.parameter_count is None,
            c.parameter_count or 0,
            c.name,
            c.candidate_id,
        )
    )
    return scored[:n]


def top_curves(candidates: Iterable[CandidateRecord], n: int = 5) -> list[CandidateRecord]:
    """The n candidates with epoch metrics that scored best (their final score, else best epoch)."""

    def rank(candidate: CandidateRecord) -> float:
        score = finite_score(candidate)
        if score is not None:
            return score
        values = [
            e.validation_metric for e in candidate.epochs if math.isfinite(e.validation_metric)
        ]
        return max(values, default=-math.inf)

    with_epochs = [c for c in evaluated(candidates) if c.epochs]
    with_epochs.sort(key=lambda c: (-rank(c), c.name, c.candidate_id))
    return with_epochs[:n]


@dataclass(frozen=True)
class GroupStats:
    """Attempts, successes and best score of one group of candidates (a prefix, a category...)."""

    attempts: int
    successes: int
    best: float | None

    @property
    def rate(self) -> float | None:
        return ratio(self.successes, self.attempts)


def group_stats(groups: dict[Any, list[CandidateRecord]]) -> dict[Any, GroupStats]:
    """GroupStats per key, over each group's attempts (infra errors excluded)."""
    stats: dict[Any, GroupStats] = {}
    for key, members in groups.items():
        counted = attempts(members)
        scores = [finite_score(c) for c in scored_successes(counted)]
        stats[key] = GroupStats(
            attempts=len(counted),
            successes=sum(1 for c in counted if is_success(c)),
            best=max((s for s in scores if s is not None), default=None),
        )
    return stats


def group_by(candidates: Iterable[CandidateRecord], key: Any) -> dict[Any, list[CandidateRecord]]:
    """Candidates by key(candidate), keeping their order inside each group."""
    groups: dict[Any, list[CandidateRecord]] = {}
    for candidate in candidates:
        groups.setdefault(key(candidate), []).append(candidate)
    return groups
