"""A candidate retrained from its record: a search of one slot that trains the stored code.

The reproduction is a search like any other of the same tenant (quota, leases, events,
resume after a restart), so its figures are measured by the same pipeline and read through
the same API as the original's. What it trains comes from the store, never from the caller:
the candidate's code as search_core kept it, its hyperparameters, and the original search's
task, dataset, sample counts, epochs and training seed. Nothing is generated, repaired or
tuned.
"""

import random
from typing import Any

from search_core import identity
from search_core.domain import CandidateRecord, Generator, Method, SearchRecord
from search_core.engine.proposals import NotInStore, Proposal
from search_core.search_config import SearchConfig
from search_core.store.async_store import AsyncStore

REPRODUCE_MUTATION = "reproduce"


class NotReproducible(ValueError):
    """The candidate has no training to reproduce; the message says why."""


def reproduction_config(search: SearchRecord, candidate: CandidateRecord) -> dict[str, Any]:
    """The config of a search that retrains `candidate` of `search` as it was trained.

    Its one slot (0) trains with seed `config.seed + slot`, as every search does, so the
    config's seed is the candidate's training seed: the one its record names, else the one
    the engine used (the original search's seed plus the candidate's slot).
    """
    if not candidate.code or not candidate.epochs:
        outcome = candidate.outcome.value if candidate.outcome else "unfinished"
        raise NotReproducible(
            f"candidate {candidate.candidate_id} was never trained (outcome {outcome}): "
            "there are no figures to reproduce"
        )
    original = search.config
    record = candidate.provenance
    seed = record.get("training_seed")
    if seed is None:
        seed = int(original.get("seed", 0)) + candidate.slot
    training = dict(original.get("training", {}))
    if record.get("training_epochs"):
        training["epochs"] = int(record["training_epochs"])
    return {
        "name": f"reproduce {candidate.name or candidate.candidate_id}"[:200],
        "method": Method.REPRODUCE.value,
        "generator": Generator.TEMPLATE.value,
        "task": original.get("task", {}),
        "max_candidates": 1,
        "repair_attempts": 0,
        "seed": int(seed),
        "parameter_budget": original.get("parameter_budget", 5_000_000),
        # Its own search only: the original (and earlier reproductions) hold the same code.
        "duplicate_scope": "search",
        "training": training,
        "reproduce": {"candidate_id": candidate.candidate_id},
    }


class ReproduceCandidate:
    """Proposes, for its one slot, the stored candidate's code with its hyperparameters."""

    def __init__(self, candidate: CandidateRecord) -> None:
        self._candidate = candidate

    def propose(self, slot: int, rng: random.Random, history: list[CandidateRecord]) -> Proposal:
        original = self._candidate
        return Proposal(
            prefix=f"Reproduce-{identity.prefix_of(original.name) or 'Candidate'}",
            generator=Generator.TEMPLATE,
            code=original.code,
            parent=original.candidate_id,
            mutation=REPRODUCE_MUTATION,
            hyperparameters=dict(original.hyperparameters),
        )


async def reproduce_method(
    config: SearchConfig, tenant_id: str, store: AsyncStore
) -> ReproduceCandidate:
    """The method of a reproduction: the tenant's own stored candidate, read again on resume."""
    candidate_id = config.reproduce.candidate_id
    candidate = await store.get_candidate(tenant_id, candidate_id)
    if candidate is None:
        raise NotInStore(f"no candidate {candidate_id!r} to reproduce")
    return ReproduceCandidate(candidate)
