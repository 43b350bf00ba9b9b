"""How LLM candidates fare from answer to valid, new, applied model: one home for the figures
the report and bench.search_repair print.

Definitions (a candidate counts once, by its final state):
- valid raw: passed the check at round 0 with no deterministic fix applied;
- valid after fixes: passed at round 0 (fixes allowed);
- valid after round r: passed within r repair rounds;
- valid, novel and applied: passed (which already excludes duplicates and near copies) and
  no parameter it added went without a gradient.
Every share comes with a 95% Wilson score interval.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, Generator

Z_95 = 1.959964


@dataclass(frozen=True)
class Share:
    count: int
    total: int

    @property
    def value(self) -> float:
        return self.count / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% Wilson score interval of the share."""
        if not self.total:
            return (0.0, 1.0)
        n, p = self.total, self.value
        centre = (p + Z_95**2 / (2 * n)) / (1 + Z_95**2 / n)
        half = Z_95 * math.sqrt(p * (1 - p) / n + Z_95**2 / (4 * n * n)) / (1 + Z_95**2 / n)
        return (max(0.0, centre - half), min(1.0, centre + half))

    def __str__(self) -> str:
        low, high = self.interval
        return f"{self.count}/{self.total} = {self.value:.0%} [{low:.0%}, {high:.0%}]"

    def to_dict(self) -> dict:
        low, high = self.interval
        return {"count": self.count, "total": self.total, "share": self.value, "ci95": [low, high]}


@dataclass(frozen=True)
class Funnel:
    candidates: int
    valid_raw: Share
    valid_after_fixes: Share
    valid_after_round: tuple[Share, ...]  # index r: within r repair rounds
    valid_novel_applied: Share
    generated_tokens: int
    llm_seconds: float

    @property
    def tokens_per_valid_novel_applied(self) -> float:
        count = self.valid_novel_applied.count
        return self.generated_tokens / count if count else math.inf

    @property
    def seconds_per_valid_novel_applied(self) -> float:
        count = self.valid_novel_applied.count
        return self.llm_seconds / count if count else math.inf

    def to_dict(self) -> dict:
        return {
            "candidates": self.candidates,
            "valid_raw": self.valid_raw.to_dict(),
            "valid_after_fixes": self.valid_after_fixes.to_dict(),
            "valid_after_round": [share.to_dict() for share in self.valid_after_round],
            "valid_novel_applied": self.valid_novel_applied.to_dict(),
            "generated_tokens": self.generated_tokens,
            "llm_seconds": self.llm_seconds,
            "tokens_per_valid_novel_applied": self.tokens_per_valid_novel_applied,
            "seconds_per_valid_novel_applied": self.seconds_per_valid_novel_applied,
        }


def is_valid_novel_applied(candidate: CandidateRecord) -> bool:
    return candidate.outcome is Outcome.SUCCESS and candidate.idea_applied is not False


def funnel(candidates: Sequence[CandidateRecord], rounds: int) -> Funnel:
    """The figures of the finished LLM candidates among `candidates`, for 0..rounds repairs."""
    llm = [c for c in candidates if c.generator == Generator.LLM and c.outcome is not None]
    total = len(llm)
    passed = [c for c in llm if c.outcome is Outcome.SUCCESS]
    at_once = [c for c in passed if c.repair_attempts == 0]
    return Funnel(
        candidates=total,
        valid_raw=Share(sum(1 for c in at_once if not c.fixes), total),
        valid_after_fixes=Share(len(at_once), total),
        valid_after_round=tuple(
            Share(sum(1 for c in passed if c.repair_attempts <= r), total)
            for r in range(rounds + 1)
        ),
        valid_novel_applied=Share(sum(1 for c in llm if is_valid_novel_applied(c)), total),
        generated_tokens=int(sum(c.llm_usage.get("generated_tokens", 0) for c in llm)),
        llm_seconds=round(sum(c.llm_usage.get("seconds", 0.0) for c in llm), 1),
    )
