"""search_core.convert: a submitted config is refused unless its stored form fits the wire."""

import json

import pytest

from nasforge.search_core.v1 import search_core_pb2 as pb
from netapi.outcomes import Outcome
from rpc.errors import InvalidArgument
from search_core.convert import config_from_spec, spec_from_config, summary_to_pb
from search_core.domain import CandidateRecord


def _spec(**config) -> pb.SearchSpec:
    config = {"method": "random", **config}
    return pb.SearchSpec(method=pb.SEARCH_METHOD_RANDOM, config_json=json.dumps(config))


@pytest.mark.parametrize(
    "config",
    [
        {"seed": 2**63},
        {"seed": -1},
        {"training": {"train_samples": 2**31}},
        {"training": {"test_samples": 2**40}},
    ],
)
def test_numbers_beyond_the_wire_types_are_invalid(config):
    """A seed past int64 was accepted and made every later GetSearch fail (INTERNAL)."""
    with pytest.raises(InvalidArgument):
        config_from_spec(_spec(**config))


def test_the_largest_accepted_numbers_round_trip():
    config = config_from_spec(_spec(seed=2**63 - 1, training={"train_samples": 2**31 - 1}))
    spec = spec_from_config(config.model_dump(mode="json"))
    assert spec.seed == 2**63 - 1 and spec.train_samples == 2**31 - 1


def test_deeply_nested_json_is_invalid_not_internal():
    text = '{"method": "random", "name": ' + "[" * 30_000 + "]" * 30_000 + "}"
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        config_from_spec(pb.SearchSpec(method=pb.SEARCH_METHOD_RANDOM, config_json=text))


def _fairnad(**fields) -> pb.SearchSpec:
    return pb.SearchSpec(method=pb.SEARCH_METHOD_FAIRNAD, **fields)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "llm"),  # the method's default
        ({"generator_kind": pb.GENERATOR_TEMPLATE}, "template"),
        ({"generator": "template"}, "template"),  # a v1 client's string
        ({"generator": "template", "generator_kind": pb.GENERATOR_TEMPLATE}, "template"),
    ],
)
def test_the_generator_is_an_enum_and_the_old_string_still_works(fields, expected):
    config = config_from_spec(_fairnad(**fields))
    assert config.generator.value == expected
    echoed = spec_from_config(config.to_dict())
    assert echoed.generator == expected
    assert (
        echoed.generator_kind
        == {"llm": pb.GENERATOR_LLM, "template": pb.GENERATOR_TEMPLATE}[expected]
    )


@pytest.mark.parametrize(
    "fields",
    [{"generator": "llm", "generator_kind": pb.GENERATOR_TEMPLATE}, {"generator_kind": 7}],
)
def test_a_contradictory_or_unknown_generator_is_invalid(fields):
    with pytest.raises(InvalidArgument, match="generator"):
        config_from_spec(_fairnad(**fields))


def _captioner(**scores: float) -> CandidateRecord:
    return CandidateRecord("c-1", "s-1", "t-1", 0, outcome=Outcome.SUCCESS, scores=scores)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ({"bleu4_corpus": 0.10, "bleu4_constant_baseline": 0.10}, True),
        ({"bleu4_corpus": 0.30, "bleu4_constant_baseline": 0.10}, False),
        ({"accuracy": 0.9}, False),  # not measured: not flagged
    ],
)
def test_the_summary_flags_an_image_blind_captioner(scores, expected):
    assert summary_to_pb(_captioner(**scores)).image_blind is expected
