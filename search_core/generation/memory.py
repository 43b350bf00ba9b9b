"""The feedback memory: a search's recent (problem, change, outcome) triples, failures included.

Every generation prompt of a search carries a bounded window of them, most recent last, so the
model sees what was tried on which idea and how it ended, and stops repeating what failed.
"""

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, Generator

MAX_ENTRY_CHARS = 360
HEADING = "What earlier candidates of this search tried (problem | change | outcome), latest last:"


def feedback_memory(history: list[CandidateRecord], window: int, max_chars: int) -> str:
    """The last `window` LLM candidates of `history` as one line each, within `max_chars`.

    Empty when the window is 0 or nothing was generated yet. Older entries are the first to go
    when the lines do not fit.
    """
    if window <= 0:
        return ""
    generated = [c for c in history if c.generator == Generator.LLM and c.outcome is not None]
    lines = [_entry(c) for c in generated[-window:]]
    while lines and len(HEADING) + sum(len(line) + 1 for line in lines) > max_chars:
        lines.pop(0)
    return "\n".join([HEADING, *lines]) if lines else ""


def _entry(candidate: CandidateRecord) -> str:
    text = f"- {_problem(candidate)} | {_change(candidate)} | {_outcome(candidate)}"
    return text if len(text) <= MAX_ENTRY_CHARS else text[: MAX_ENTRY_CHARS - 3] + "..."


def _problem(candidate: CandidateRecord) -> str:
    idea = candidate.idea.get("attribute")
    if idea:
        return f"apply {idea!r} to {candidate.parent or 'the parent'}"
    return f"{candidate.mutation or 'generate'} from {candidate.parent or 'scratch'}"


def _change(candidate: CandidateRecord) -> str:
    merge = candidate.generation.get("merge") or {}
    parts = []
    if merge.get("added"):
        parts.append("added " + ", ".join(merge["added"][:4]))
    if merge.get("replaced"):
        parts.append("changed " + ", ".join(merge["replaced"][:4]))
    if candidate.fixes:
        parts.append("fixed " + ", ".join(sorted({f["rule"] for f in candidate.fixes})))
    if candidate.repair_attempts:
        parts.append(f"{candidate.repair_attempts} repair round(s)")
    return "; ".join(parts) or "rewrote the module"


def _outcome(candidate: CandidateRecord) -> str:
    outcome = candidate.outcome
    if outcome is Outcome.SUCCESS:
        if candidate.idea_applied is False:
            return "passed, but the idea was not applied (its new layers got no gradient)"
        score = f", score {candidate.score:.3f}" if candidate.score is not None else ""
        return f"passed{score}"
    first_line = candidate.error_message.strip().splitlines()[0] if candidate.error_message else ""
    where = f" at {candidate.stage}" if candidate.stage else ""
    return f"{outcome.value if outcome else 'unfinished'}{where}: {first_line[:200]}".rstrip(": ")
