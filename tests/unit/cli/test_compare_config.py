"""The compare config: validation with clear errors, and expansion into one search per seed."""

import copy
import re
from pathlib import Path

import pytest

from cli.compare.config import CompareConfigError, load_compare_config, parse_compare_config
from search_core.domain import Method

DEMO = Path(__file__).resolve().parents[3] / "demo" / "compare.toml"

BASE = {
    "name": "tiny",
    "seeds": [1, 2, 3],
    "budget": {
        "max_candidates": 4,
        "epochs": 2,
        "train_samples": 100,
        "validation_samples": 50,
        "test_samples": 60,
    },
    "task": {"task": "img-classification", "dataset": "fashion-mnist"},
    "methods": [
        {
            "label": "fair",
            "method": "fairnad",
            "generator": "template",
            "fairnad": {"population_size": 3},
        },
        {"label": "rand", "method": "random", "generator": "template"},
    ],
}


def with_changes(**changes):
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def test_expands_one_search_per_method_and_seed_with_the_same_budget():
    runs = parse_compare_config(copy.deepcopy(BASE)).runs()
    assert [(run.label, run.seed) for run in runs] == [
        ("fair", 1), ("fair", 2), ("fair", 3), ("rand", 1), ("rand", 2), ("rand", 3),
    ]  # fmt: skip
    for run in runs:
        config = run.search_config
        assert config["seed"] == run.seed
        assert config["max_candidates"] == 4
        training = config["training"]
        assert (training["epochs"], training["train_samples"]) == (2, 100)
        assert (training["validation_samples"], training["test_samples"]) == (50, 60)
        assert config["name"] == f"tiny/{run.label}/seed-{run.seed}"
    assert runs[0].search_config["fairnad"]["population_size"] == 3  # passed through
    assert runs[3].search_config["method"] == "random"


def test_request_ids_are_stable_and_distinct_per_run():
    first = [run.client_request_id for run in parse_compare_config(copy.deepcopy(BASE)).runs()]
    again = [run.client_request_id for run in parse_compare_config(copy.deepcopy(BASE)).runs()]
    assert first == again
    assert len(set(first)) == len(first)
    assert all(len(request_id) <= 200 for request_id in first)
    renamed = parse_compare_config(with_changes(name="other")).runs()
    assert renamed[0].client_request_id != first[0]


def test_an_edited_budget_is_a_new_run_not_the_old_search():
    budget = {**BASE["budget"], "epochs": 3}
    edited = parse_compare_config(with_changes(budget=budget)).runs()
    original = parse_compare_config(copy.deepcopy(BASE)).runs()
    assert edited[0].client_request_id != original[0].client_request_id


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seeds": []}, "seeds: give a list of at least one seed"),
        ({"seeds": [1, 1]}, "each seed once"),
        ({"seeds": [1, "2"]}, "whole numbers only"),
        ({"name": ""}, "name: give the comparison a name"),
        ({"methods": []}, "methods: give at least one"),
        ({"budget": {"max_candidates": 4}}, "budget: state epochs, train_samples"),
        ({"extra": 1}, "unknown setting(s) extra"),
    ],
)
def test_bad_configs_say_what_is_wrong(changes, message):
    with pytest.raises(CompareConfigError, match=re.escape(message)):
        parse_compare_config(with_changes(**changes))


def test_an_unknown_method_names_the_known_ones():
    methods = [{"label": "x", "method": "bayesopt"}]
    with pytest.raises(CompareConfigError, match=r"methods.x: unknown method 'bayesopt' \(known: "):
        parse_compare_config(with_changes(methods=methods))


@pytest.mark.parametrize(
    "field", ["max_candidates", "training", "seed", "task", "name", "duplicate_scope"]
)
def test_a_method_cannot_change_what_is_set_for_all(field):
    methods = [{"label": "rand", "method": "random", field: 1}]
    with pytest.raises(CompareConfigError, match=f"methods.rand: {field} is set for every method"):
        parse_compare_config(with_changes(methods=methods))


def test_repeated_labels_are_refused():
    methods = [{"label": "a", "method": "random"}, {"label": "a", "method": "fairnad"}]
    with pytest.raises(CompareConfigError, match=r"label\(s\) a used more than once"):
        parse_compare_config(with_changes(methods=methods))


def test_search_config_errors_name_the_method_and_seed():
    methods = [{"label": "rand", "method": "random", "generator": "llm"}]
    with pytest.raises(CompareConfigError, match=r"methods.rand \(seed 1\): .*template generator"):
        parse_compare_config(with_changes(methods=methods))


def test_a_budget_out_of_range_is_refused_by_the_search_rules():
    budget = {**BASE["budget"], "max_candidates": 0}
    with pytest.raises(CompareConfigError, match="max_candidates"):
        parse_compare_config(with_changes(budget=budget))


def test_an_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(CompareConfigError, match="cannot read"):
        load_compare_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(CompareConfigError, match="not valid TOML"):
        load_compare_config(bad)


@pytest.mark.skipif(
    "reference" not in {m.value for m in Method}, reason="method 'reference' not wired yet"
)
def test_the_demo_config_is_valid():
    config = load_compare_config(DEMO)
    assert len(config.runs()) == len(config.methods) * len(config.seeds)
