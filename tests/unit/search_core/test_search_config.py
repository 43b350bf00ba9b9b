"""A search's config: the generator it runs unless it names one, and the resolution its
candidates are checked and trained at."""

import pathlib

import pytest

from netapi.tasks import transform_side
from search_core.domain import Generator, Method, default_generator
from search_core.search_config import SearchConfigError, load_config, parse_config

CAPTIONING = {"task": "img-captioning", "dataset": "fashion-captions"}


@pytest.mark.parametrize(
    ("method", "expected", "extra"),
    [
        ("fairnad", Generator.LLM, {}),
        ("nn_caption", Generator.LLM, {"task": CAPTIONING}),
        ("random", Generator.TEMPLATE, {}),
        ("regularized_evolution", Generator.TEMPLATE, {}),
    ],
)
def test_a_config_without_a_generator_gets_its_methods_default(method, expected, extra):
    config = parse_config({"method": method, **extra})
    assert config.generator is expected is default_generator(Method(method))
    assert config.to_dict()["generator"] == expected.value  # saved, so a resume is identical


def test_a_named_generator_wins():
    assert parse_config({"method": "fairnad", "generator": "template"}).generator is (
        Generator.TEMPLATE
    )


# The resolution: checks run at the side the search's transform gives, which is the side the
# trainer resizes to (netapi.tasks.resolve_input).


def test_a_transform_sets_the_side_of_checks_and_training():
    task = parse_config({"task": {"transform": "norm_64"}}).task
    assert task.in_shape == (64, 1, 64, 64)
    assert task.check_spec().in_shape == (2, 1, 64, 64)
    assert task.spec().transform == task.check_spec().transform == "norm_64"


def test_unset_the_task_default_transform_is_explicit():
    """The trainer would otherwise fill in norm_32 (32x32) while checks ran at 28x28."""
    task = parse_config({}).task
    assert (task.transform, task.in_shape) == ("norm_32", (64, 1, 32, 32))


def test_an_in_shape_alone_keeps_the_datasets_size():
    task = parse_config({"task": {"in_shape": [64, 1, 28, 28]}}).task
    assert (task.transform, task.check_spec().in_shape) == ("norm", (2, 1, 28, 28))


def test_a_disagreeing_in_shape_names_the_field():
    with pytest.raises(SearchConfigError, match=r"task: .*does not agree with transform 'norm_64'"):
        parse_config({"task": {"transform": "norm_64", "in_shape": [64, 1, 28, 28]}})


def test_the_resolved_task_is_saved_so_a_resume_is_identical():
    config = parse_config({"task": {"transform": "norm_128_flip"}})
    assert config.to_dict()["task"]["in_shape"] == [64, 1, 128, 128]
    assert parse_config(config.to_dict()) == config


def test_bad_shapes_are_still_named_by_their_field():
    with pytest.raises(SearchConfigError, match=r"task\.in_shape"):
        parse_config({"task": {"in_shape": [1, 2, 3]}})


DEMO = pathlib.Path(__file__).resolve().parents[3] / "demo"
SEARCH_DEMOS = sorted(p for p in DEMO.glob("*.toml") if p.stem != "compare")


@pytest.mark.parametrize("path", SEARCH_DEMOS, ids=lambda path: path.name)
def test_demo_configs_check_at_their_training_side(path):
    task = load_config(path).task
    side = transform_side(task.transform)
    assert side is None or task.check_spec().in_shape[2:] == (side, side)
