"""Whether a candidate's code is new: not what its prompt showed, not its own earlier attempt,
not the tenant's earlier candidate, and (LLM candidates) not a near copy of any of them."""

from search_core import identity
from search_core.domain import CandidateRecord, Generator
from search_core.engine.context import CandidateContext
from search_core.engine.proposals import YARDSTICK_MUTATIONS
from search_core.generation.similarity import Signature, nearest, signature


async def duplicate_of(ctx: CandidateContext, candidate: CandidateRecord, code: str) -> str | None:
    md5 = identity.normalised_md5(code)
    structure = identity.structure_hash(code)
    for example_hash, label in ctx.examples.items():
        if example_hash in (md5, structure):
            return label
    own = own_attempt(candidate, md5, structure)
    if own is not None:
        return own
    other = await ctx.store.find_duplicate(
        candidate.tenant_id, md5, structure, candidate.candidate_id, _scope(ctx, candidate)
    )
    if other is not None:
        return f"candidate {other.name or other.candidate_id}"
    return await _near_copy_of(ctx, candidate, code)


def _scope(ctx: CandidateContext, candidate: CandidateRecord) -> str:
    """The search whose candidates alone count as earlier code, or "" for the whole tenant."""
    within_search = (
        ctx.config.duplicate_scope == "search" or candidate.mutation in YARDSTICK_MUTATIONS
    )
    return candidate.search_id if within_search else ""


def own_attempt(candidate: CandidateRecord, md5: str, structure: str) -> str | None:
    """The candidate's own earlier attempt with this code hash or structure, if any."""
    for earlier in candidate.history:
        if earlier.get("code_md5") == md5 or earlier.get("structure_hash") == structure:
            return f"its own attempt {earlier.get('attempt', 0)}"
    return None


async def _near_copy_of(ctx: CandidateContext, candidate: CandidateRecord, code: str) -> str | None:
    """A near copy (MinHash Jaccard at or over the threshold) of what the prompt showed or of
    the tenant's earlier candidates, for LLM candidates; its own earlier attempts do not
    count (a repair is meant to be close to what it repairs)."""
    threshold = ctx.config.generation.near_copy_threshold
    if candidate.generator != Generator.LLM or threshold >= 1.0:
        return None  # template genomes differ by design in a few numbers: exact hashes only
    mine = signature(code)
    if mine is None:
        return None
    earlier = [
        (f"candidate {name}", Signature.from_list(values))
        for name, values in await ctx.store.code_signatures(
            candidate.tenant_id, candidate.candidate_id, _scope(ctx, candidate)
        )
    ]
    found = nearest(mine, [*ctx.example_signatures, *earlier], threshold)
    if found is None:
        return None
    return f"a near copy of {found.label} (similarity {found.similarity:.2f})"
