"""The feedback loop: recent (problem, change, outcome) triples with their training results,
bounded, latest last; validation figures only."""

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, EpochMetrics, Generator
from search_core.generation.memory import HEADING, feedback_memory, search_feedback


def _candidate(slot, outcome, **fields):
    return CandidateRecord(
        candidate_id=f"c-{slot}",
        search_id="s",
        tenant_id="acme",
        slot=slot,
        idea={"category": "attention", "attribute": f"idea {slot}"},
        outcome=outcome,
        **{"parent": "VGG", **fields},
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
    assert lines[2].endswith("| rewrote the module | passed, validation 0.810")
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


def _curve(*points):
    return [EpochMetrics(n, loss, validation) for n, (loss, validation) in enumerate(points, 1)]


def _trained_history():
    """A parent, a child that improved on it, and a child whose training diverged; each
    holds a test figure (0.987) that no feedback may show."""
    held_out = {"accuracy": 0.987}
    return [
        _candidate(0, Outcome.SUCCESS, score=0.5, scores=held_out, epochs=_curve((1.9, 0.5))),
        _candidate(
            1,
            Outcome.SUCCESS,
            parent="c-0",
            score=0.55,
            scores=held_out,
            epochs=_curve((1.9, 0.4), (1.4, 0.5), (1.2, 0.55)),
        ),
        _candidate(
            2,
            Outcome.TRAINING_FAILURE,
            parent="c-0",
            stage="train",
            error_message="the loss is nan at epoch 2\nTraceback ...",
            epochs=_curve((1.9, 0.3), (float("nan"), 0.1)),
        ),
    ]


def test_an_entry_says_how_training_went_against_the_parent():
    lines = feedback_memory(_trained_history(), window=6, max_chars=4000).splitlines()
    assert lines[2].endswith(
        "| passed, validation 0.550 (+0.050 vs parent);"
        " epochs 1-3: validation 0.400>0.500>0.550, train loss 1.9>1.4>1.2"
    )
    assert lines[3].endswith(
        "| training_failure in training: the loss is nan at epoch 2;"
        " epochs 1-2: validation 0.300>0.100, train loss 1.9>nan"
    )
    assert "0.987" not in "\n".join(lines)


def test_the_search_feedback_has_check_errors_and_training_results_within_bounds():
    history = [
        _candidate(9, Outcome.SHAPE_MISMATCH, stage="forward", error_message="got [2, 11]"),
        *_trained_history(),
    ]
    text = search_feedback(history, max_chars=4000)
    assert text.splitlines()[0] == (
        "Outcomes of the last 4 candidates: shape_mismatch 1, training_failure 1"
    )
    assert "- shape_mismatch at forward: got [2, 11]" in text
    assert "training_failure at train" not in text  # a training failure is a training result
    assert "(+0.050 vs parent)" in text and "training_failure in training" in text
    assert "0.987" not in text
    many = [_candidate(s, Outcome.SUCCESS, score=0.5, epochs=_curve((1.0, 0.5))) for s in range(30)]
    small = search_feedback(many, max_chars=600)
    assert len(small) <= 600 and "c-29" in small and "c-10" not in small
