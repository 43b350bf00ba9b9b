"""What a comparison gathers from search_core, as plain values: the statistics and the report
work from these alone, so they can be tested (and recomputed) without a running stack."""

from dataclasses import dataclass

SUCCESS = "success"


@dataclass(frozen=True)
class CandidateResult:
    """One finished candidate, in the units every method's budget is counted in."""

    name: str
    outcome: str  # lower-case outcome name, e.g. "success", "shape_mismatch"
    validation: float | None  # the best epoch's validation metric: what a search steers by
    test: float | None  # the held-out test figure of the same epoch: reported, never chosen by
    epochs: int  # epochs trained
    training_seconds: float  # sum of the epochs' wall times
    llm_seconds: float  # what its LLM calls took, repairs included

    @property
    def seconds(self) -> float:
        return self.training_seconds + self.llm_seconds


@dataclass(frozen=True)
class RunResult:
    """One search of the comparison: a method with one seed, candidates in budget order."""

    label: str
    method: str
    seed: int
    search_id: str
    state: str  # the search's final state, e.g. "succeeded"
    candidates: tuple[CandidateResult, ...]
