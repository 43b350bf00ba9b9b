"""The feedback loop: what a search's earlier candidates tried and how they ended.

Every generation prompt of a search carries a bounded window of (problem, change, outcome)
triples, most recent last, so the model sees what was tried on which idea and how it ended,
and stops repeating what failed. An outcome says how training went, not only the check: the
validation curve, the validation delta to the parent, a training failure with its error.
FairNAD's refinement prompt gets the same training results for the search's recent
candidates (`search_feedback`). Validation figures only: test scores are held out and never
steer a search.
"""

from collections import Counter
from collections.abc import Sequence

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, EpochMetrics, Generator

MAX_ENTRY_CHARS = 360
HEADING = "What earlier candidates of this search tried (problem | change | outcome), latest last:"
CURVE_POINTS = 4  # epochs a one-line curve shows: the first, the last, and evenly between
RECENT = 20  # candidates the refinement feedback summarises
RECENT_ERRORS = 5
MAX_ERROR_CHARS = 160


def feedback_memory(history: list[CandidateRecord], window: int, max_chars: int) -> str:
    """The last `window` LLM candidates of `history` as one line each, within `max_chars`.

    Empty when the window is 0 or nothing was generated yet. Older entries are the first to go
    when the lines do not fit.
    """
    if window <= 0:
        return ""
    scores = _scores(history)
    generated = [c for c in history if c.generator == Generator.LLM and c.outcome is not None]
    lines = [_entry(c, scores) for c in generated[-window:]]
    return _bounded(HEADING, lines, max_chars)


def search_feedback(history: list[CandidateRecord], max_chars: int) -> str:
    """The recent candidates' outcomes, check errors and training results, within `max_chars`:
    what FairNAD's refinement prompt says happened in the search."""
    recent = history[-RECENT:]
    failures = Counter(c.outcome.value for c in recent if c.outcome not in (None, Outcome.SUCCESS))
    summary = f"Outcomes of the last {len(recent)} candidates: " + (
        ", ".join(f"{k} {v}" for k, v in sorted(failures.items())) or "all succeeded"
    )
    errors = [
        f"- {c.outcome.value} at {c.stage or 'check'}: {_first_line(c.error_message)}"
        for c in recent
        if c.outcome not in (None, Outcome.SUCCESS) and c.stage != "train" and c.error_message
    ][-RECENT_ERRORS:]
    if errors:
        summary += "\nRecent check errors:\n" + "\n".join(errors)
    scores = _scores(history)
    trained = [
        f"- {c.name or c.candidate_id}: {_training(c, scores)}" for c in recent if _trained(c)
    ]
    heading = "Recent training results (validation, latest last):"
    results = _bounded(heading, trained, max_chars - len(summary) - 1)
    return "\n".join(part for part in (summary, results) if part)[:max_chars]


def evenly_spaced(items: Sequence, count: int) -> list:
    """At most `count` of `items`, evenly spaced, the first and the last kept."""
    if len(items) <= count:
        return list(items)
    if count == 1:
        return [items[-1]]
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def _bounded(heading: str, lines: list[str], max_chars: int) -> str:
    """The heading and the latest lines that fit in `max_chars`; empty when none does."""
    while lines and len(heading) + sum(len(line) + 1 for line in lines) > max_chars:
        lines = lines[1:]
    return "\n".join([heading, *lines]) if lines else ""


def _scores(history: list[CandidateRecord]) -> dict[str, float]:
    """Each scored candidate's validation score by id: a child's delta is taken against it."""
    return {c.candidate_id: c.score for c in history if c.score is not None}


def _entry(candidate: CandidateRecord, scores: dict[str, float]) -> str:
    text = f"- {_problem(candidate)} | {_change(candidate)} | {_outcome(candidate, scores)}"
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


def _outcome(candidate: CandidateRecord, scores: dict[str, float]) -> str:
    outcome = candidate.outcome
    if outcome is Outcome.SUCCESS and candidate.idea_applied is False:
        return "passed, but the idea was not applied (its new layers got no gradient)"
    if _trained(candidate):
        return _training(candidate, scores)
    if outcome is Outcome.SUCCESS:
        return "passed"
    where = f" at {candidate.stage}" if candidate.stage else ""
    message = _first_line(candidate.error_message)
    return f"{outcome.value if outcome else 'unfinished'}{where}: {message}".rstrip(": ")


def _trained(candidate: CandidateRecord) -> bool:
    """Whether it got as far as training: a score, a curve, or a failure in training."""
    return candidate.score is not None or bool(candidate.epochs) or candidate.stage == "train"


def _training(candidate: CandidateRecord, scores: dict[str, float]) -> str:
    """How its training went: the validation score and its delta to the parent, or the
    training failure and its error; then the curve."""
    if candidate.outcome is Outcome.SUCCESS and candidate.score is not None:
        parent = scores.get(candidate.parent)
        delta = f" ({candidate.score - parent:+.3f} vs parent)" if parent is not None else ""
        result = f"passed, validation {candidate.score:.3f}{delta}"
    else:
        outcome = candidate.outcome.value if candidate.outcome else "unfinished"
        result = f"{outcome} in training: {_first_line(candidate.error_message)}".rstrip(": ")
    curve = _curve(candidate.epochs)
    return f"{result}; {curve}" if curve else result


def _curve(epochs: list[EpochMetrics]) -> str:
    """`validation 0.41>0.50>0.55, train loss 1.92>1.41>1.20` over a few evenly spaced epochs."""
    if not epochs:
        return ""
    shown = evenly_spaced(epochs, CURVE_POINTS)
    validation = ">".join(f"{e.validation_metric:.3f}" for e in shown)
    loss = ">".join(f"{e.train_loss:.3g}" for e in shown)
    return f"epochs {shown[0].epoch}-{shown[-1].epoch}: validation {validation}, train loss {loss}"


def _first_line(message: str) -> str:
    lines = message.strip().splitlines()
    return lines[0][:MAX_ERROR_CHARS] if lines else ""
