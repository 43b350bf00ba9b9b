"""The feedback memory: recent (problem, change, outcome) triples, bounded, latest last."""

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, Generator
from search_core.generation.memory import HEADING, feedback_memory


def _candidate(slot, outcome, **fields):
    return CandidateRecord(
        candidate_id=f"c-{slot}",
        search_id="s",
        tenant_id="acme",
        slot=slot,
        parent="VGG",
        idea={"category": "attention", "attribute": f"idea {slot}"},
        outcome=outcome,
        **fields,
    )


def test_each_entry_names_the_idea_what_changed_and_how_it_ended():
    history = [
        _candidate(
            0,
            Outcome.SHAPE_MISMATCH,
            stage="forward",
            error_message="mat1 and mat2 shapes cannot be multiplied (2x512 and 768x10)\nmore",
            generation={"merge": {"added": ["SEBlock"], "replaced": ["Net.forward"]}},
            fixes=[{"rule": "missing-import", "detail": "import math"}],
        ),
        _candidate(1, Outcome.SUCCESS, score=0.81),
        _candidate(2, Outcome.SUCCESS, idea_applied=False),
    ]
    lines = feedback_memory(history, window=6, max_chars=4000).splitlines()
    assert lines[0] == HEADING
    assert lines[1] == (
        "- apply 'idea 0' to VGG | added SEBlock; changed Net.forward; fixed missing-import"
        " | shape_mismatch at forward: mat1 and mat2 shapes cannot be multiplied"
        " (2x512 and 768x10)"
    )
    assert lines[2].endswith("| rewrote the module | passed, score 0.810")
    assert "idea was not applied" in lines[3]


def test_the_window_and_the_size_bound_keep_the_latest():
    history = [
        _candidate(slot, Outcome.RUNTIME_ERROR, error_message="x" * 300) for slot in range(10)
    ]
    text = feedback_memory(history, window=4, max_chars=100_000)
    assert [line.split("'")[1] for line in text.splitlines()[1:]] == [
        "idea 6",
        "idea 7",
        "idea 8",
        "idea 9",
    ]
    small = feedback_memory(history, window=10, max_chars=800)
    assert len(small) <= 800 and "idea 9" in small and "idea 0" not in small


def test_nothing_to_remember_is_an_empty_memory():
    template = _candidate(0, Outcome.SUCCESS, generator=Generator.TEMPLATE)
    unfinished = _candidate(1, None)
    assert feedback_memory([template, unfinished], window=6, max_chars=4000) == ""
    assert feedback_memory([_candidate(2, Outcome.SUCCESS)], window=0, max_chars=4000) == ""
