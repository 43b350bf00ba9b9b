"""The accuracy/size Pareto front (maximise score, minimise size) and FairNAD's size split."""

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ParetoPoint:
    """A finished candidate as the front sees it: id, score (e.g. accuracy), size (parameters)."""

    id: str
    score: float
    size: float

    def __post_init__(self) -> None:
        if math.isnan(self.score) or math.isnan(self.size):
            raise ValueError(f"point {self.id!r} has a NaN score or size")


def dominates(a: ParetoPoint, b: ParetoPoint) -> bool:
    """a is at least as good as b in both objectives and better in one."""
    return a.score >= b.score and a.size <= b.size and (a.score > b.score or a.size < b.size)


def _ordered(points: Iterable[ParetoPoint]) -> list[ParetoPoint]:
    return sorted(points, key=lambda p: (p.size, -p.score, p.id))


def pareto_front(points: Iterable[ParetoPoint]) -> list[ParetoPoint]:
    """The non-dominated points, smallest first (equal points are all kept)."""
    points = list(points)
    return _ordered(p for p in points if not any(dominates(q, p) for q in points))


def pareto_ranks(points: Iterable[ParetoPoint]) -> dict[str, int]:
    """Non-dominated sorting (Deb et al. 2002): 0 for the front, 1 for the front without it, ..."""
    points = list(points)
    if len({p.id for p in points}) != len(points):
        raise ValueError("point ids must be unique")
    dominated_by_count = [0] * len(points)
    dominating: list[list[int]] = [[] for _ in points]
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            if dominates(p, q):
                dominating[i].append(j)
                dominated_by_count[j] += 1
    ranks: dict[str, int] = {}
    layer = [i for i, count in enumerate(dominated_by_count) if count == 0]
    rank = 0
    while layer:
        following = []
        for i in layer:
            ranks[points[i].id] = rank
            for j in dominating[i]:
                dominated_by_count[j] -= 1
                if dominated_by_count[j] == 0:
                    following.append(j)
        layer, rank = following, rank + 1
    return ranks


def split_small_large(
    front: Iterable[ParetoPoint],
) -> tuple[list[ParetoPoint], list[ParetoPoint]]:
    """Split a front at its median size: (small, large), small first in each.

    Small models (size at or below the median) are to be scaled up, large ones (above it)
    get hyperparameter tuning. A one-point front is small.
    """
    front = _ordered(front)
    if not front:
        return [], []
    median = statistics.median(p.size for p in front)
    return [p for p in front if p.size <= median], [p for p in front if p.size > median]
