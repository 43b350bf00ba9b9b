"""Per-method numbers: the NN-Caption campaign tables and the FairNAD idea/mutation tables.

NN-Caption names are `<prefix>-<md5>` with a prefix like `C5C-ResNetLSTM` (C5C = five
classification snippets in the prompt; search_core.identity parses them); the tables follow
"LLM as a Neural Architect", with four corrections:
- the decoder is read from the code (search_core.zoo.decoders), never from the name;
- the baselines are the ones trained in the campaign itself (nn_caption.train_baselines),
  under the same budget, and never count as generated attempts;
- a success is meaningful only when it is not image-blind (search_core.scores.image_blind);
- no attempt vanishes: a prompt the gateway refused for length (the outcome
  `prompt_too_long`) is the k=10 design's failure, counted as an attempt, and every infra
  error is shown beside the rate it is excluded from.
Models are chosen by their score (the validation score); the test BLEU-4 is only shown.
FairNAD candidates carry the sampled knowledge-tree idea ({"category", "attribute"})
and the mutation operator that produced them.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from netapi.outcomes import Outcome
from netapi.tasks import IMG_CAPTIONING
from search_core.domain import CandidateRecord, SearchRecord
from search_core.identity import (
    GRU,
    LSTM,
    OTHER_DECODER,
    TRANSFORMER,
    family_of,
    prefix_of,
    snippets_in,
)
from search_core.methods.nn_caption import is_campaign_baseline
from search_core.report.tables import (
    GroupStats,
    attempts,
    config_value,
    evaluated,
    finite_score,
    group_by,
    group_stats,
    is_success,
    outcome_of,
    ratio,
)
from search_core.scores import headline_score, image_blind
from search_core.zoo.decoders import ATTENTION, UNKNOWN_DECODER, decoder_family

NONE_KEY = "(none)"
UNNAMED = "(unnamed)"
# The order of the decoder table.
DECODER_ROWS = (LSTM, GRU, TRANSFORMER, ATTENTION, OTHER_DECODER, UNKNOWN_DECODER)
REPAIR_BUCKETS = ("0", "1", "2", "3+")
# The order of outcome rows: the enum's.
OUTCOME_LABELS = tuple(o.value for o in Outcome)


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


def outcome_label(candidate: CandidateRecord) -> str:
    """The outcome a campaign table shows (OUTCOME_LABELS)."""
    return str(outcome_of(candidate))


def counted_in_campaign(candidate: CandidateRecord) -> bool:
    """An attempt of the model: finished, and not our side breaking (prompt_too_long is the
    prompt's failure, so it counts)."""
    return outcome_of(candidate) is not Outcome.INFRA_ERROR


def is_meaningful(candidate: CandidateRecord) -> bool:
    """A success whose captions beat the image-blind baseline by the margin."""
    return is_success(candidate) and image_blind(candidate.scores) is False


def held_out_bleu4(candidate: CandidateRecord | None) -> float | None:
    """The held-out test corpus BLEU-4: shown, never used to choose."""
    return None if candidate is None else headline_score(IMG_CAPTIONING, candidate.scores)


def decoder_of_code(candidate: CandidateRecord) -> str:
    return decoder_family(candidate.code) if candidate.code.strip() else UNKNOWN_DECODER


@dataclass(frozen=True)
class CaptionStats:
    """A group of generated captioners: attempts, successes, image-blind and meaningful
    successes, and the best success by its (validation) score."""

    attempts: int
    successes: int
    image_blind: int
    meaningful: int
    best: CandidateRecord | None

    @property
    def rate(self) -> float | None:
        return ratio(self.successes, self.attempts)

    @property
    def meaningful_rate(self) -> float | None:
        return ratio(self.meaningful, self.attempts)

    @property
    def best_score(self) -> float | None:
        return None if self.best is None else finite_score(self.best)


def caption_stats(members: Sequence[CandidateRecord]) -> CaptionStats:
    """CaptionStats over the members counted as attempts (see counted_in_campaign)."""
    counted = [c for c in members if counted_in_campaign(c)]
    scored = [c for c in counted if is_success(c) and finite_score(c) is not None]
    best = max(scored, key=lambda c: (finite_score(c), c.name), default=None)
    return CaptionStats(
        attempts=len(counted),
        successes=sum(1 for c in counted if is_success(c)),
        image_blind=sum(1 for c in counted if is_success(c) and image_blind(c.scores)),
        meaningful=sum(1 for c in counted if is_meaningful(c)),
        best=best,
    )


@dataclass(frozen=True)
class KRow:
    """One row of the success-rate table: every attempt at this k, by outcome."""

    stats: CaptionStats
    infra_errors: int  # our side broke: shown, not counted in the rate
    outcomes: dict[str, int]  # outcome label -> count, prompt_too_long and infra_error included


@dataclass(frozen=True)
class BaselineRow:
    """A captioning baseline trained unchanged in the campaign."""

    candidate: CandidateRecord
    decoder: str


@dataclass(frozen=True)
class FamilyRow:
    family: str  # the most common spelling; families group case-insensitively
    decoders: tuple[str, ...]  # read from the members' code
    stats: CaptionStats
    baseline: CandidateRecord | None  # trained in the campaign
    baseline_name: str
    baseline_score: float | None  # its test BLEU-4, else the zoo's recorded score
    baseline_trained: bool

    @property
    def delta(self) -> float | None:
        """The family's best model's test BLEU-4 minus the baseline's."""
        best = held_out_bleu4(self.stats.best)
        if best is None or self.baseline_score is None:
            return None
        return best - self.baseline_score


@dataclass(frozen=True)
class FailureRow:
    outcome: str  # an outcome label (OUTCOME_LABELS)
    count: int
    top_error: str  # "type: message" of the most common error (raw; the renderer sanitises)
    top_error_count: int


@dataclass(frozen=True)
class ErrorRow:
    outcome: str
    error_type: str
    message: str
    count: int


@dataclass(frozen=True)
class CampaignTables:
    """Everything the NN-Caption section prints, pooled over the campaign's searches."""

    searches: int
    attempts: int
    infra_errors: int  # excluded from every rate
    prompt_too_long: int  # counted as attempts
    per_prefix: dict[tuple[str, int | None, str], CaptionStats]  # (prefix, k, decoder)
    per_decoder: dict[str, CaptionStats]
    per_k: dict[int | None, KRow]
    baselines: list[BaselineRow]
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


def _family_key(candidate: CandidateRecord) -> str:
    return family_of(prefix_label(candidate.name)).lower()


def _trained_baseline(family: str, trained: Sequence[CandidateRecord]) -> CandidateRecord | None:
    """The family's baseline trained in the campaign: the best by its score when several
    searches trained it."""
    own = [c for c in trained if _family_key(c) == family and finite_score(c) is not None]
    return max(own, key=lambda c: (finite_score(c), c.name), default=None)


def _family_row(
    members: list[CandidateRecord],
    trained: Sequence[CandidateRecord],
    recorded: dict[str, float],
) -> FamilyRow:
    spellings = Counter(family_of(prefix_label(c.name)) for c in members)
    spelling = min(spellings, key=lambda name: (-spellings[name], name))
    decoders = tuple(sorted({decoder_of_code(c) for c in members}, key=DECODER_ROWS.index))
    stats = caption_stats(members)
    baseline = _trained_baseline(spelling.lower(), trained)
    if baseline is not None:
        name = family_of(prefix_label(baseline.name))
        return FamilyRow(spelling, decoders, stats, baseline, name, held_out_bleu4(baseline), True)
    for name in sorted(recorded):
        if name.lower() == spelling.lower():
            return FamilyRow(spelling, decoders, stats, None, name, recorded[name], False)
    return FamilyRow(spelling, decoders, stats, None, "", None, False)


def _failures(failed: Sequence[CandidateRecord]) -> list[FailureRow]:
    rows = []
    for label, members in group_by(failed, outcome_label).items():
        errors = Counter(_error_text(c) for c in members)
        (etype, message), count = min(errors.items(), key=lambda item: (-item[1], item[0]))
        top = f"{etype}: {message}" if etype and message else etype or message
        rows.append(FailureRow(label, len(members), top, count if top else 0))
    rows.sort(key=lambda row: (-row.count, OUTCOME_LABELS.index(row.outcome)))
    return rows


def _top_errors(failed: Sequence[CandidateRecord], n: int) -> list[ErrorRow]:
    errors = Counter((outcome_label(c), *_error_text(c)) for c in failed)
    rows = [
        ErrorRow(label, etype, message, count)
        for (label, etype, message), count in errors.items()
        if etype or message
    ]
    rows.sort(key=lambda r: (-r.count, r.outcome, r.error_type, r.message))
    return rows[:n]


def _per_k(pairs: Sequence[tuple[int | None, CandidateRecord]]) -> dict[int | None, KRow]:
    by_k: dict[int | None, list[CandidateRecord]] = {}
    for k, c in pairs:
        by_k.setdefault(k, []).append(c)
    return {
        k: KRow(
            caption_stats(by_k[k]),
            sum(1 for c in by_k[k] if not counted_in_campaign(c)),
            {
                label: count
                for label, count in sorted(
                    Counter(outcome_label(c) for c in by_k[k]).items(),
                    key=lambda item: OUTCOME_LABELS.index(item[0]),
                )
            },
        )
        for k in sorted(by_k, key=_k_sort)
    }


def campaign_tables(
    searches: Sequence[tuple[SearchRecord, list[CandidateRecord]]],
    baselines: dict[str, float],
    *,
    top_errors: int = 10,
) -> CampaignTables:
    """The paper's tables over every given search (call it with the nn_caption ones).

    `baselines`: zoo model name -> recorded score, the baseline column's fallback for a
    family whose baseline the campaign did not train.
    """
    finished = [(search, c) for search, candidates in searches for c in evaluated(candidates)]
    trained = [c for _, c in finished if is_campaign_baseline(c)]
    generated = [(search, c) for search, c in finished if not is_campaign_baseline(c)]
    every_k = [(snippets_per_prompt(search, c), c) for search, c in generated]
    counted_k = [(k, c) for k, c in every_k if counted_in_campaign(c)]
    counted = [c for _, c in counted_k]
    k_of = {id(c): k for k, c in counted_k}

    def prefix_key(c: CandidateRecord) -> tuple[str, int | None, str]:
        return prefix_label(c.name), k_of[id(c)], decoder_of_code(c)

    by_prefix = group_by(counted, prefix_key)
    per_prefix = {
        key: caption_stats(by_prefix[key])
        for key in sorted(
            by_prefix,
            key=lambda k: (k[0].lower(), k[0], _k_sort(k[1]), DECODER_ROWS.index(k[2])),
        )
    }
    by_decoder = group_by(counted, decoder_of_code)
    per_decoder = {d: caption_stats(by_decoder[d]) for d in DECODER_ROWS if d in by_decoder}
    families = group_by(counted, _family_key)
    failed = [c for c in counted if not is_success(c)]

    repairs = {bucket: (0, 0) for bucket in REPAIR_BUCKETS}
    for c in counted:
        tried, passed = repairs[repair_bucket(c)]
        repairs[repair_bucket(c)] = (tried + 1, passed + is_success(c))

    return CampaignTables(
        searches=len(searches),
        attempts=len(counted),
        infra_errors=len(every_k) - len(counted_k),
        prompt_too_long=sum(1 for c in counted if outcome_of(c) is Outcome.PROMPT_TOO_LONG),
        per_prefix=per_prefix,
        per_decoder=per_decoder,
        per_k=_per_k(every_k),
        baselines=[BaselineRow(c, decoder_of_code(c)) for c in trained],
        per_family=[_family_row(families[key], trained, baselines) for key in sorted(families)],
        failures=_failures(failed),
        top_errors=_top_errors(failed, top_errors),
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
