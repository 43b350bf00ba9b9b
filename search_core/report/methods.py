"""Per-method numbers: the NN-Caption campaign tables and the FairNAD idea/mutation tables.

NN-Caption names are `<prefix>-<md5>` with a prefix like `C5C-ResNetLSTM` (C5C = five
classification snippets in the prompt; search_core.identity parses them); the tables follow
"LLM as a Neural Architect".
FairNAD candidates carry the sampled knowledge-tree idea ({"category", "attribute"})
and the mutation operator that produced them.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, SearchRecord
from search_core.identity import (
    GRU,
    LSTM,
    OTHER_DECODER,
    TRANSFORMER,
    decoder_of,
    family_of,
    prefix_of,
    snippets_in,
)
from search_core.report.tables import (
    GroupStats,
    attempts,
    config_value,
    group_by,
    group_stats,
    is_success,
    outcome_of,
)

NONE_KEY = "(none)"
UNNAMED = "(unnamed)"
DECODER_ROWS = (LSTM, GRU, TRANSFORMER, OTHER_DECODER)  # the order of the decoder table
REPAIR_BUCKETS = ("0", "1", "2", "3+")


def prefix_label(name: str) -> str:
    """The prefix a table row shows: the name's prefix without surrounding spaces, or UNNAMED."""
    return prefix_of(name.strip()) or UNNAMED


def snippets_per_prompt(search: SearchRecord, candidate: CandidateRecord) -> int | None:
    """k: the name's C{k}C (what the prompt really held), else the search config, else None."""
    k = snippets_in(candidate.name.strip())
    if k is not None:
        return k
    configured = config_value(search.config, "nn_caption", "snippets_per_prompt")
    if isinstance(configured, int) and not isinstance(configured, bool):
        return configured
    return None


def _k_sort(k: int | None) -> tuple[bool, int]:
    return (k is None, k or 0)


@dataclass(frozen=True)
class FamilyRow:
    family: str  # the most common spelling; families group case-insensitively
    decoder: str
    stats: GroupStats
    baseline_name: str
    baseline_score: float | None


@dataclass(frozen=True)
class FailureRow:
    outcome: Outcome
    count: int
    top_error: str  # "type: message" of the most common error (raw; the renderer sanitises)
    top_error_count: int


@dataclass(frozen=True)
class ErrorRow:
    outcome: Outcome
    error_type: str
    message: str
    count: int


@dataclass(frozen=True)
class CampaignTables:
    """Everything the NN-Caption section prints, pooled over the campaign's searches."""

    searches: int
    attempts: int
    infra_errors: int
    per_prefix: dict[tuple[str, int | None, str], GroupStats]  # (prefix, k, decoder)
    per_decoder: dict[str, GroupStats]
    per_k: dict[int | None, GroupStats]
    per_family: list[FamilyRow]
    failures: list[FailureRow]
    top_errors: list[ErrorRow]
    repairs: dict[str, tuple[int, int]]  # bucket -> (attempts, successes)


def _one_line(text: str) -> str:
    """Whitespace collapsed: messages that differ only in layout count as one."""
    return " ".join(text.split())


def _error_text(candidate: CandidateRecord) -> tuple[str, str]:
    return _one_line(candidate.error_type), _one_line(candidate.error_message)


def repair_bucket(candidate: CandidateRecord) -> str:
    tries = max(0, int(candidate.repair_attempts or 0))
    return REPAIR_BUCKETS[min(tries, 3)]


def _match_baseline(family: str, baselines: dict[str, float]) -> tuple[str, float | None]:
    for name in sorted(baselines):
        if name.lower() == family.lower():
            return name, baselines[name]
    return "", None


def campaign_tables(
    searches: Sequence[tuple[SearchRecord, list[CandidateRecord]]],
    baselines: dict[str, float],
    *,
    top_errors: int = 10,
) -> CampaignTables:
    """The paper's tables over every given search (call it with the nn_caption ones)."""
    pairs = [(search, c) for search, candidates in searches for c in attempts(candidates)]
    infra = sum(
        1 for _, candidates in searches for c in candidates if outcome_of(c) is Outcome.INFRA_ERROR
    )
    k_of = {id(c): snippets_per_prompt(search, c) for search, c in pairs}
    counted = [c for _, c in pairs]

    def prefix_key(c: CandidateRecord) -> tuple[str, int | None, str]:
        prefix = prefix_label(c.name)
        return prefix, k_of[id(c)], decoder_of(family_of(prefix))

    per_prefix = group_stats(group_by(counted, prefix_key))
    per_prefix = {
        key: per_prefix[key]
        for key in sorted(per_prefix, key=lambda k: (k[0].lower(), k[0], _k_sort(k[1])))
    }
    by_decoder = group_stats(
        group_by(counted, lambda c: decoder_of(family_of(prefix_label(c.name))))
    )
    per_decoder = {d: by_decoder[d] for d in DECODER_ROWS if d in by_decoder}
    by_k = group_stats(group_by(counted, lambda c: k_of[id(c)]))
    per_k = {k: by_k[k] for k in sorted(by_k, key=_k_sort)}

    families = group_by(counted, lambda c: family_of(prefix_label(c.name)).lower())
    per_family = []
    for key in sorted(families):
        members = families[key]
        spellings = Counter(family_of(prefix_label(c.name)) for c in members)
        spelling = min(spellings, key=lambda name: (-spellings[name], name))
        name, score = _match_baseline(spelling, baselines)
        per_family.append(
            FamilyRow(spelling, decoder_of(spelling), group_stats({0: members})[0], name, score)
        )

    failed = [c for c in counted if not is_success(c)]
    failures = []
    for outcome, members in group_by(failed, outcome_of).items():
        errors = Counter(_error_text(c) for c in members)
        (etype, message), count = min(errors.items(), key=lambda item: (-item[1], item[0]))
        top = f"{etype}: {message}" if etype and message else etype or message
        failures.append(FailureRow(outcome, len(members), top, count if top else 0))
    failures.sort(key=lambda row: (-row.count, list(Outcome).index(row.outcome)))

    errors = Counter((outcome_of(c), *_error_text(c)) for c in failed)
    error_rows = [
        ErrorRow(outcome, etype, message, count)
        for (outcome, etype, message), count in errors.items()
        if etype or message
    ]
    error_rows.sort(key=lambda r: (-r.count, r.outcome, r.error_type, r.message))

    repairs = {bucket: (0, 0) for bucket in REPAIR_BUCKETS}
    for c in counted:
        tried, passed = repairs[repair_bucket(c)]
        repairs[repair_bucket(c)] = (tried + 1, passed + is_success(c))

    return CampaignTables(
        searches=len(searches),
        attempts=len(counted),
        infra_errors=infra,
        per_prefix=per_prefix,
        per_decoder=per_decoder,
        per_k=per_k,
        per_family=per_family,
        failures=failures,
        top_errors=error_rows[:top_errors],
        repairs=repairs,
    )


@dataclass(frozen=True)
class FairnadTables:
    """Which ideas a FairNAD search sampled and how its mutation operators fared."""

    per_category: dict[str, GroupStats]
    per_attribute: dict[tuple[str, str], GroupStats]
    per_mutation: dict[str, GroupStats]


def _idea(candidate: CandidateRecord, key: str) -> str:
    idea = candidate.idea if isinstance(candidate.idea, dict) else {}
    value = idea.get(key)
    return str(value) if value not in (None, "") else NONE_KEY


def fairnad_tables(candidates: Sequence[CandidateRecord]) -> FairnadTables:
    counted = attempts(candidates)

    def sort(stats: dict) -> dict:
        return {key: stats[key] for key in sorted(stats)}

    return FairnadTables(
        per_category=sort(group_stats(group_by(counted, lambda c: _idea(c, "category")))),
        per_attribute=sort(
            group_stats(group_by(counted, lambda c: (_idea(c, "category"), _idea(c, "attribute"))))
        ),
        per_mutation=sort(group_stats(group_by(counted, lambda c: c.mutation or NONE_KEY))),
    )
