"""netapi.tasks: task specs and their validation."""

import math

import pytest

from netapi.tasks import (
    IMG_CAPTIONING,
    IMG_CLASSIFICATION,
    TaskSpec,
    TaskSpecError,
    default_spec,
    validate,
)


@pytest.mark.parametrize("task", [IMG_CLASSIFICATION, IMG_CAPTIONING])
def test_default_specs_are_valid(task):
    spec = validate(default_spec(task))
    assert spec.task == task and len(spec.in_shape) == 4


def test_prm_carries_batch_transform_and_epoch():
    spec = default_spec(IMG_CLASSIFICATION).with_hyperparameters({"lr": 0.1})
    assert spec.prm(epoch=3) == {"lr": 0.1, "batch": 2, "transform": "norm_32", "epoch": 3}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task": "img-segmentation"}, "unknown task"),
        ({"dataset": ""}, "dataset"),
        ({"in_shape": (3, 32, 32)}, "4 dimensions"),
        ({"in_shape": (2, 3, 0, 32)}, "outside"),
        ({"in_shape": (2, 3, 100_000, 32)}, "outside"),
        ({"out_shape": (10, 2)}, "1 dimensions"),
        ({"hyperparameters": {"lr": 1.5}}, r"outside \[0, 1\]"),
        ({"hyperparameters": {"lr": math.nan}}, r"outside \[0, 1\]"),
        ({"hyperparameters": {"batch": 0.5}}, "reserved"),
        ({"hyperparameters": {"l r": 0.5}}, "identifier"),
    ],
)
def test_invalid_specs_say_what_is_wrong(change, message):
    fields = {**default_spec(IMG_CLASSIFICATION).__dict__, **change}
    with pytest.raises(TaskSpecError, match=message):
        validate(TaskSpec(**fields))


def test_captioning_vocabulary_must_exceed_special_tokens():
    fields = {**default_spec(IMG_CAPTIONING).__dict__, "out_shape": (4,)}
    with pytest.raises(TaskSpecError, match="special tokens"):
        validate(TaskSpec(**fields))


def test_hyperparameters_parse_from_the_command_line_form():
    from netapi.tasks import TaskSpecError, parse_hyperparameters

    assert parse_hyperparameters("lr=0.05, momentum=0.9,") == {"lr": 0.05, "momentum": 0.9}
    assert parse_hyperparameters("") == {}
    with pytest.raises(TaskSpecError, match="NAME=NUMBER"):
        parse_hyperparameters("lr=fast")
