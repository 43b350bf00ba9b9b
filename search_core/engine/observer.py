"""What the engine reports as it runs searches (search_core.metrics implements it)."""

from typing import Protocol

from search_core.domain import CandidateRecord, Method, SearchState


class SearchObserver(Protocol):
    """Everything the engine reports; none of it changes what a search does."""

    def candidate_finished(self, candidate: CandidateRecord, method: Method, variant: str) -> None:
        """A candidate reached its final outcome."""

    def stage_call(self, stage: str, seconds: float) -> None:
        """A dependency call of a stage answered, `seconds` after it began waiting."""

    def paused(self, service: str) -> None:
        """A search paused because `service` was down or overloaded."""

    def search_states(self, counts: dict[SearchState, int]) -> None:
        """How many searches are in each state, after any of them changed."""


class NoObserver:
    """Reports nowhere (tests and tools that need no metrics)."""

    def candidate_finished(self, candidate: CandidateRecord, method: Method, variant: str) -> None:
        pass

    def stage_call(self, stage: str, seconds: float) -> None:
        pass

    def paused(self, service: str) -> None:
        pass

    def search_states(self, counts: dict[SearchState, int]) -> None:
        pass
