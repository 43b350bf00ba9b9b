"""LEMUR models checked as LEMUR runs them, in real containers: `nasforge sandbox check
--transform` and `nasforge zoo import-lemur --sandbox` (subprocesses, the runtime image)."""

import json
import os
import subprocess
import sys

import pytest

from tests.integration.sandbox.conftest import REPO_ROOT
from tests.unit.search_core.zoo.lemur_resolution_db import (
    ALEXNET_64,
    WIDE_MLP,
    WIDE_MLP_PARAMETERS,
    build_resolution_db,
)


def nasforge(*args):
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env=dict(os.environ),
    )


@pytest.fixture
def alexnet(tmp_path):
    path = tmp_path / "alexnet64.py"
    path.write_text(ALEXNET_64)
    return str(path)


def test_the_64px_model_passes_at_norm_64(alexnet):
    result = nasforge(
        "sandbox", "check", alexnet, "--task", "img-classification", "--transform", "norm_64",
        "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["outcome"] == "success", verdict
    assert verdict["spec"]["in_shape"] == [2, 3, 64, 64]
    assert verdict["spec"]["transform"] == "norm_64"
    assert verdict["output_shape"] == [2, 10]
    assert verdict["parameter_budget"] == 50_000_000


def test_the_64px_model_fails_at_the_default_32(alexnet):
    result = nasforge("sandbox", "check", alexnet, "--task", "img-classification")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("outcome: shape_mismatch (cold")
    assert "Output size is too small" in result.stdout
    assert "spec: img-classification, in_shape 2x3x32x32 (transform norm_32)" in result.stdout


def test_the_budget_is_a_visible_setting(tmp_path):
    path = tmp_path / "wide.py"
    path.write_text(WIDE_MLP)
    result = nasforge(
        "sandbox", "check", str(path), "--task", "img-classification",
        "--parameter-budget", "1000000",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("outcome: too_large")
    assert f"{WIDE_MLP_PARAMETERS:,} parameters is over the budget of 1,000,000" in result.stdout
    assert "parameter budget: 1,000,000 (--parameter-budget)" in result.stdout


def test_import_lemur_in_the_sandbox_reports_every_refusal(tmp_path):
    lemur = tmp_path / "ab.nn.db"
    build_resolution_db(lemur)
    store = str(tmp_path / "nasforge.db")
    result = nasforge(
        "zoo", "import-lemur", str(lemur), "--store", store, "--sandbox",
        "--parameter-budget", "1000000", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["totals"] == {
        "imported": 2,
        "forbidden_code": 1,
        "shape_mismatch": 1,
        "syntax_error": 1,
        "too_large": 1,
    }
    rows = {row["name"]: row for row in report["models"]}
    assert rows["AlexNet64"]["outcome"] == "imported"
    assert rows["AlexNet64"]["in_shape"] == [2, 3, 64, 64]
    assert rows["AlexNet64At32"]["outcome"] == "shape_mismatch"
    assert rows["WideMLP"]["reason"] == (
        f"{WIDE_MLP_PARAMETERS:,} parameters over the budget of 1,000,000 (--parameter-budget)"
    )
    listed = json.loads(nasforge("zoo", "list", "--store", store, "--json").stdout)
    assert {row["name"] for row in listed} == {"AlexNet64", "SmallCNN"}
