"""The generator a search runs unless its config names one: one rule for the API and files."""

import pytest

from search_core.domain import Generator, Method, default_generator
from search_core.search_config import parse_config

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
