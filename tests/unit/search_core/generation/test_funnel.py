"""The generation funnel: valid raw, after fixes, after each repair round, valid-novel-applied."""

import math

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, Generator
from search_core.generation.funnel import Share, funnel


def _candidate(outcome, repairs=0, fixes=(), applied=None, generator=Generator.LLM):
    return CandidateRecord(
        candidate_id="c",
        search_id="s",
        tenant_id="t",
        slot=0,
        outcome=outcome,
        repair_attempts=repairs,
        fixes=[{"rule": rule, "detail": ""} for rule in fixes],
        idea_applied=applied,
        generator=generator,
        llm_usage={"generated_tokens": 100, "seconds": 10.0},
    )


def test_each_stage_counts_what_passed_by_then():
    candidates = [
        _candidate(Outcome.SUCCESS, applied=True),  # valid raw
        _candidate(Outcome.SUCCESS, fixes=["missing-import"], applied=True),  # after fixes
        _candidate(Outcome.SUCCESS, repairs=1, applied=False),  # round 1, idea not applied
        _candidate(Outcome.SUCCESS, repairs=2, applied=True),  # round 2
        _candidate(Outcome.DUPLICATE),
        _candidate(Outcome.SHAPE_MISMATCH, repairs=2),
        _candidate(Outcome.SUCCESS, generator=Generator.TEMPLATE),  # not an LLM candidate
    ]
    figures = funnel(candidates, rounds=2)
    assert figures.candidates == 6
    assert (figures.valid_raw.count, figures.valid_after_fixes.count) == (1, 2)
    assert [share.count for share in figures.valid_after_round] == [2, 3, 4]
    assert figures.valid_novel_applied.count == 3
    assert figures.generated_tokens == 600 and figures.llm_seconds == 60.0
    assert figures.seconds_per_valid_novel_applied == 20.0


def test_no_hit_costs_infinitely_much():
    figures = funnel([_candidate(Outcome.RUNTIME_ERROR)], rounds=1)
    assert math.isinf(figures.tokens_per_valid_novel_applied)


def test_the_wilson_interval_of_a_share():
    low, high = Share(5, 20).interval
    assert round(low, 3) == 0.112 and round(high, 3) == 0.469
    assert Share(0, 20).interval[0] == 0.0 and Share(20, 20).interval[1] == 1.0
    assert str(Share(5, 20)) == "5/20 = 25% [11%, 47%]"
    assert Share(0, 0).interval == (0.0, 1.0)
