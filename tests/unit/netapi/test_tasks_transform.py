"""The side a LEMUR transform name gives, and specs at the resolution a transform asks for."""

import pytest

from netapi.tasks import (
    IMG_CAPTIONING,
    IMG_CLASSIFICATION,
    TaskSpecError,
    parse_in_shape,
    resolve_input,
    side_of_transform,
    spec_for,
    transform_side,
)


@pytest.mark.parametrize(
    ("name", "side"),
    [
        ("norm_32", 32),
        ("norm_64", 64),
        ("norm_128", 128),
        ("norm_256_flip", 256),
        ("norm_299", 299),
        ("echo_224", 224),
        ("complex_299_flip", 299),
        ("resize-lemur-256", 256),
        ("bf-v1-RandomPosterize_256", 256),  # "v1" is not a side
    ],
)
def test_lemur_names_give_their_side(name, side):
    assert side_of_transform(name) == side == transform_side(name)


@pytest.mark.parametrize("name", ["norm", "echo", "echo_flip", "blip2_processor", ""])
def test_a_name_without_a_number_gives_no_side(name):
    assert transform_side(name) is None
    with pytest.raises(TaskSpecError, match="names no side"):
        side_of_transform(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [("norm_32_64", "several sides"), ("norm_0", "outside"), ("norm_4096", "outside")],
)
def test_ambiguous_or_absurd_sides_are_errors(name, message):
    with pytest.raises(TaskSpecError, match=message):
        transform_side(name)


def test_a_transform_alone_sets_the_side():
    spec = spec_for(IMG_CLASSIFICATION, transform="norm_299")
    assert spec.in_shape == (2, 3, 299, 299) and spec.transform == "norm_299"
    assert spec.prm()["transform"] == "norm_299"
    assert spec_for(IMG_CAPTIONING, transform="norm_128").in_shape == (2, 3, 128, 128)


def test_nothing_given_is_the_default_spec():
    spec = spec_for(IMG_CLASSIFICATION)
    assert (spec.in_shape, spec.transform) == ((2, 3, 32, 32), "norm_32")


def test_an_in_shape_alone_keeps_the_datasets_size():
    spec = spec_for(IMG_CLASSIFICATION, in_shape=(4, 1, 28, 28))
    assert (spec.in_shape, spec.transform) == ((4, 1, 28, 28), "norm")


def test_both_must_agree():
    agreed = spec_for(IMG_CLASSIFICATION, transform="norm_64", in_shape=(2, 1, 64, 64))
    assert agreed.in_shape == (2, 1, 64, 64)
    with pytest.raises(TaskSpecError, match=r"does not agree with transform 'norm_64'.*64x64"):
        spec_for(IMG_CLASSIFICATION, transform="norm_64", in_shape=(2, 3, 32, 32))


def test_a_transform_without_a_side_takes_the_given_or_default_shape():
    assert resolve_input(IMG_CLASSIFICATION, "echo", None, (8, 1, 28, 28)) == (
        "echo",
        (8, 1, 28, 28),
    )
    assert spec_for(IMG_CLASSIFICATION, transform="norm", in_shape=(2, 3, 40, 40)).in_shape == (
        2,
        3,
        40,
        40,
    )


def test_spec_bounds_still_apply():
    with pytest.raises(TaskSpecError, match="outside"):
        spec_for(IMG_CLASSIFICATION, in_shape=(2, 3, 2000, 2000))
    with pytest.raises(TaskSpecError, match="unknown task"):
        spec_for("img-segmentation", transform="norm_64")


def test_in_shape_parses_from_the_command_line_form():
    assert parse_in_shape("2,3,64,64") == (2, 3, 64, 64)
    assert parse_in_shape("2x3x64x64") == (2, 3, 64, 64)
    for text in ("2,3,64", "a,b,c,d", ""):
        with pytest.raises(TaskSpecError, match="B,C,H,W"):
            parse_in_shape(text)


def test_the_trainer_resizes_to_the_same_side():
    """Training and checks agree: every transform the trainer knows resizes to the side the
    check spec takes from its name (no side: the images keep their size)."""
    from trainer_svc.data.transforms import TRANSFORMS

    for name, spec in TRANSFORMS.items():
        assert spec.size == transform_side(name), name
