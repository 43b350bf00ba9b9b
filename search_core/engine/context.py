"""What evaluating one candidate needs from its search: config, store, services, the code
its prompt showed."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from rpc.audit import AuditLog
from search_core import identity
from search_core.domain import CandidateRecord, EpochMetrics
from search_core.engine.proposals import Proposal
from search_core.generation.similarity import Signature, signature
from search_core.search_config import SearchConfig
from search_core.services import Services
from search_core.store.async_store import AsyncStore

T = TypeVar("T")


class StageCaller(Protocol):
    """Runs one dependency call of a stage: bounds, exclusivity, pause-and-retry."""

    async def __call__(self, stage: str, call: Callable[[], Awaitable[T]]) -> T: ...


@dataclass
class CandidateContext:
    """What evaluating a candidate needs from its search."""

    config: SearchConfig
    store: AsyncStore  # every call off the event loop
    services: Services
    call: StageCaller
    dedup_lock: asyncio.Lock  # per tenant: dedup and saving code happen as one step
    on_finished: Callable[[CandidateRecord], Awaitable[None]]
    on_epoch: Callable[[CandidateRecord, EpochMetrics], Awaitable[None]]
    examples: dict[str, str] = field(default_factory=dict)  # hashes of prompt examples -> label
    # MinHash of the parent and the prompt's examples: a near copy of one is a duplicate.
    example_signatures: list[tuple[str, Signature]] = field(default_factory=list)
    default_model: str = ""  # the gateway model used when the config names none
    audit: AuditLog | None = None  # candidate_generated records, when the service keeps a log


def _shown_code(proposal: Proposal | None) -> list[tuple[str, str]]:
    """(label, code) of what a prompt showed: an answer that copies one is a duplicate."""
    if proposal is None:
        return []
    shown = [(f"prompt example {n}", code) for n, code in enumerate(proposal.examples, start=1)]
    if proposal.parent_code:
        shown.append((f"its parent {proposal.parent}", proposal.parent_code))
    return shown


def with_examples(ctx: CandidateContext, proposal: Proposal | None) -> CandidateContext:
    shown = _shown_code(proposal)
    hashes = {}
    for label, code in shown:
        hashes[identity.normalised_md5(code)] = label
        hashes[identity.structure_hash(code)] = label
    signatures = [(label, sig) for label, code in shown if (sig := signature(code)) is not None]
    return replace(ctx, examples=hashes, example_signatures=signatures)
