"""The harness protocol as the host sees it: every result line is validated, nothing trusted."""

import json

import pytest

from netapi.harness.protocol import ProtocolError, job_line, parse_job, parse_result
from netapi.outcomes import Outcome, Stage
from netapi.tasks import default_spec


def result_line(**fields):
    base = {"nonce": "n-1", "outcome": "success", "stage": None, "error": None}
    return json.dumps({**base, **fields}).encode()


def test_job_round_trip():
    job = parse_job(job_line("n-1", "x = 1\n", default_spec("img-captioning"), 1000))
    assert job["nonce"] == "n-1" and job["code"] == "x = 1\n"
    assert job["spec"] == default_spec("img-captioning")


def test_a_valid_result_is_accepted():
    parsed = parse_result(
        result_line(
            outcome="shape_mismatch",
            stage="forward",
            error={"type": "RuntimeError", "message": "bad", "line": 3},
            parameter_count=10,
        ),
        "n-1",
    )
    assert parsed["outcome"] is Outcome.SHAPE_MISMATCH and parsed["stage"] is Stage.FORWARD
    assert parsed["error_line"] == 3 and parsed["parameter_count"] == 10


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        result_line(nonce="forged"),
        result_line(outcome="passed"),
        result_line(stage="launch"),
        result_line(parameter_count=-5),
        result_line(parameter_count="many"),
        result_line(error="oops"),
        b"{" + b" " * 300_000 + b"}",
    ],
)
def test_malformed_or_forged_results_are_refused(line):
    with pytest.raises(ProtocolError):
        parse_result(line, "n-1")


def test_result_text_is_sanitised():
    parsed = parse_result(
        result_line(
            outcome="runtime_error",
            error={"type": "E\x1b[31m", "message": "line1\nline2\x00" + "x" * 5000, "line": 1},
        ),
        "n-1",
    )
    assert "\n" not in parsed["error_message"] and "\x00" not in parsed["error_message"]
    assert len(parsed["error_message"]) <= 1200


def test_shape_trace_is_type_checked():
    parsed = parse_result(
        result_line(
            shape_trace=[
                {
                    "module": "conv1",
                    "type": "Conv2d",
                    "input_shapes": [[2, 3, 32, 32]],
                    "output_shapes": [2, 8, 30, 30],
                },
                {"module": {"evil": 1}, "input_shapes": [["x"]], "output_shapes": "nope"},
                "not a dict",
            ]
        ),
        "n-1",
    )
    assert parsed["shape_trace"][0] == {
        "module": "conv1",
        "type": "Conv2d",
        "input_shapes": [[2, 3, 32, 32]],
        "output_shapes": [2, 8, 30, 30],
    }
    assert parsed["shape_trace"][1]["input_shapes"] == [[]]
    assert parsed["shape_trace"][1]["output_shapes"] == []
    assert len(parsed["shape_trace"]) == 2
