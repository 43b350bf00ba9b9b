"""LEMUR import at LEMUR's resolutions: each model checked at its best trial's transform, the
budget applied by the full check, every refusal reported with its reason.

The full check runs here through the harness in this process (our own models only); the
container path is tests/integration/sandbox/test_lemur_resolution.py.
"""

import asyncio
from types import SimpleNamespace

import pytest

from netapi.harness.runner import run_job
from netapi.outcomes import Outcome, Stage
from search_core.zoo.lemur import IMPORTED, budget_reason, check_in_sandbox, read_lemur
from tests.unit.search_core.zoo.lemur_resolution_db import (
    WIDE_MLP_PARAMETERS,
    build_resolution_db,
)

BUDGET = 1_000_000


async def harness_check(code, spec, budget):
    """The harness of the runtime image, run here: what the sandbox would answer."""
    raw = await asyncio.to_thread(
        run_job, {"nonce": "n", "code": code, "spec": spec, "parameter_budget": budget}
    )
    return SimpleNamespace(
        outcome=Outcome(raw["outcome"]),
        stage=Stage(raw["stage"]) if raw["stage"] else None,
        error_message=(raw["error"] or {}).get("message", ""),
        parameter_count=raw["parameter_count"],
    )


@pytest.fixture
def lemur(tmp_path):
    path = tmp_path / "ab.nn.db"
    build_resolution_db(path)
    return path


def _by_name(report):
    return {entry.name: entry for entry in report.entries}


def test_each_model_is_checked_at_its_best_trials_transform(lemur):
    entries = _by_name(read_lemur(lemur))
    alexnet = entries["AlexNet64"]
    # Its best trial (0.62) ran at norm_64; a worse one at norm_128 does not decide.
    assert (alexnet.transform, alexnet.spec.in_shape) == ("norm_64", (2, 3, 64, 64))
    assert alexnet.spec.dataset == "cifar-10" and alexnet.spec.prm()["transform"] == "norm_64"
    assert alexnet.model.metrics == {"accuracy": 0.62, "epoch": 5.0}
    assert entries["WideMLP"].spec.in_shape == (2, 3, 32, 32)
    assert entries["Pretrained"].spec.in_shape == (2, 3, 256, 256)


def test_the_static_check_refuses_what_cannot_parse_or_downloads_weights(lemur):
    report = read_lemur(lemur)
    entries = _by_name(report)
    assert (entries["Broken"].outcome, entries["Broken"].reason) == (
        "syntax_error",
        "line 4: expected ':'",
    )
    pretrained = entries["Pretrained"]
    assert pretrained.outcome == "forbidden_code" and "pretrained" in pretrained.reason
    assert pretrained.model is None
    assert report.checked == "static" and report.parameter_budget is None
    assert {model.name for model in report.models} == {
        "AlexNet64",
        "AlexNet64At32",
        "WideMLP",
        "SmallCNN",
    }


def test_the_full_check_at_each_resolution_and_the_budget(lemur):
    report = read_lemur(lemur)
    asyncio.run(check_in_sandbox(report, harness_check, BUDGET))
    entries = _by_name(report)
    assert entries["AlexNet64"].outcome == IMPORTED  # fits at 64x64 ...
    at_32 = entries["AlexNet64At32"]  # ... and not at 32x32, where LEMUR trained this row
    assert at_32.outcome == "shape_mismatch" and at_32.reason.startswith("forward: ")
    assert at_32.model is None
    wide = entries["WideMLP"]
    assert wide.outcome == "too_large"
    assert wide.reason == (
        f"{WIDE_MLP_PARAMETERS:,} parameters over the budget of 1,000,000 (--parameter-budget)"
    )
    assert wide.reason == budget_reason(WIDE_MLP_PARAMETERS, BUDGET)
    assert {model.name for model in report.models} == {"AlexNet64", "SmallCNN"}
    assert report.totals() == {
        "imported": 2,
        "forbidden_code": 1,
        "shape_mismatch": 1,
        "syntax_error": 1,
        "too_large": 1,
    }
    document = report.to_dict()
    assert (document["checked"], document["parameter_budget"]) == ("sandbox", BUDGET)
    assert (document["rows"], document["imported"], document["refused"]) == (6, 2, 4)
    rows = {row["name"]: row for row in document["models"]}
    assert rows["WideMLP"] | {"reason": ""} == {
        "name": "WideMLP",
        "task": "img-classification",
        "transform": "norm_32_flip",
        "in_shape": [2, 3, 32, 32],
        "outcome": "too_large",
        "reason": "",
    }
    assert rows["AlexNet64"]["accuracy"] == 0.62


def test_a_larger_budget_imports_the_wide_model(lemur):
    report = read_lemur(lemur)
    asyncio.run(check_in_sandbox(report, harness_check, 50_000_000))
    assert _by_name(report)["WideMLP"].outcome == IMPORTED


def test_only_statically_accepted_models_reach_the_checker_and_jobs_bound_it(lemur):
    seen, running, most = [], 0, 0

    async def check(code, spec, budget):
        nonlocal running, most
        running += 1
        most = max(most, running)
        seen.append(spec.in_shape)
        await asyncio.sleep(0.01)
        running -= 1
        return SimpleNamespace(
            outcome=Outcome.SUCCESS, stage=None, error_message="", parameter_count=1
        )

    report = read_lemur(lemur)
    asyncio.run(check_in_sandbox(report, check, BUDGET, jobs=2))
    assert sorted(seen) == [(2, 3, 32, 32)] * 3 + [(2, 3, 64, 64)]
    assert most == 2 and report.imported == 4


def test_our_failure_is_not_the_models_and_says_so(lemur):
    async def broken_engine(code, spec, budget):
        return SimpleNamespace(
            outcome=Outcome.INFRA_ERROR,
            stage=None,
            error_message="Docker engine unavailable",
            parameter_count=0,
        )

    report = read_lemur(lemur)
    asyncio.run(check_in_sandbox(report, broken_engine, BUDGET))
    alexnet = _by_name(report)["AlexNet64"]
    assert alexnet.outcome == "infra_error" and alexnet.model is None
    assert alexnet.reason == "not checked, our side failed: Docker engine unavailable"


def test_a_transform_whose_side_cannot_be_read_is_reported(tmp_path):
    import sqlite3

    path = tmp_path / "odd.db"
    build_resolution_db(path)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE stat SET transform = 'norm_32_64' WHERE nn = 'SmallCNN'")
    connection.commit()
    connection.close()
    small = _by_name(read_lemur(path))["SmallCNN"]
    assert small.outcome == "skipped" and "several sides" in small.reason
