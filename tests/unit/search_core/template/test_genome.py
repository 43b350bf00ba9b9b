"""Genomes: validation, canonical form, and the JSON round trip the engine stores."""

import json
import random

import pytest

from search_core.template.cost import MAX_MACS, MAX_PARAMETERS, cost
from search_core.template.genome import (
    Genome,
    GenomeError,
    Stage,
    canonical,
    describe,
    genome_from_dict,
    genome_to_dict,
    validate,
)
from search_core.template.operators import random_genome


def test_the_default_genome_is_valid_and_within_budget():
    genome = validate(Genome())
    assert canonical(genome) == genome
    assert cost(genome).within_budget
    assert genome.hyperparameters == {
        "lr": 0.05,
        "momentum": 0.9,
        "weight_decay": 0.5,
        "dropout": 0.2,
    }


def test_json_round_trip_for_random_genomes():
    rng = random.Random(11)
    for _ in range(200):
        genome = random_genome(rng)
        data = json.loads(json.dumps(genome_to_dict(genome)))
        assert genome_from_dict(data) == genome
        assert data["version"] == 1 and isinstance(data["stages"], list)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(colour="red"), "unknown genome keys: colour"),
        (lambda d: d.update(version=9), "unsupported genome version"),
        (lambda d: d.update(norm="weight"), "norm='weight' is not one of"),
        (lambda d: d.update(lr=1.5), "hyperparameter lr=1.5 is outside"),
        (lambda d: d.update(stages=[]), "1 to 4 stages"),
        (lambda d: d.update(stages="basic"), "stages must be a list"),
        (lambda d: d["stages"][0].update(block="transformer"), r"stages\[0\].block"),
        (lambda d: d["stages"][1].update(width=65), r"stages\[1\].width=65"),
        (lambda d: d["stages"][1].update(stride=True), r"stages\[1\].stride=True"),
        (lambda d: d["stages"][0].update(heads=4), r"stages\[0\] must be an object"),
        (
            lambda d: [s.update(stride=2) for s in d["stages"]] and d.update(stem="patchify"),
            "4 stride-2 steps",
        ),
    ],
)
def test_bad_dicts_say_what_is_wrong(change, message):
    data = genome_to_dict(Genome())
    change(data)
    with pytest.raises(GenomeError, match=message):
        genome_from_dict(data)
    with pytest.raises(GenomeError):
        genome_from_dict("not a dict")


def test_canonical_resets_what_cannot_change_the_code():
    genome = Genome(
        stages=(Stage("plain", 1, 32, 1, 5), Stage("inception", 1, 64, 1, 7)),
        downsample="max",
        lr=0.0123456,
    )
    assert canonical(genome).stages[1].kernel == 3  # inception has fixed kernels
    assert canonical(genome).stages[0].kernel == 5
    assert canonical(genome).downsample == "conv"  # no stride-2 stage
    assert canonical(genome).lr == 0.01235
    plain = Genome(stages=(Stage("plain", 1, 32, 2),), branch_scale="rezero", drop_path=0.1)
    assert canonical(plain).branch_scale == "none" and canonical(plain).drop_path == 0.0


def test_describe_is_one_readable_line():
    text = describe(Genome(attention="se"))
    assert text == (
        "conv3/32 | basic 2x32 s1, basic 2x64 s2, basic 2x128 s2 | batch relu | attention=se"
    )


def test_random_genomes_respect_the_budgets():
    rng = random.Random(3)
    for _ in range(200):
        measured = cost(random_genome(rng))
        assert measured.parameters <= MAX_PARAMETERS and measured.macs <= MAX_MACS
