"""`nasforge zoo` as a user runs it: a real subprocess, a real SQLite store, exit statuses."""

import json
import os
import subprocess
import sys

from search_core.zoo import builtin_models
from tests.unit.search_core.zoo.lemur_db import CAPTIONER_NAME, build_lemur_db
from tests.unit.search_core.zoo.lemur_resolution_db import build_resolution_db


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "cli", "zoo", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_list_builtin_needs_no_store():
    result = run_cli("list", "--builtin", "--task", "img-captioning", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == ["ResNetGRU", "ResNetLSTM", "ResNetTransformer"]
    assert {row["source"] for row in rows} == {"nasforge"}


def test_seed_then_list_from_the_store_url_in_the_environment(tmp_path):
    env = {"NASFORGE_STORE_URL": str(tmp_path / "nasforge.db")}
    seeded = run_cli("seed", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert f"seeded {len(builtin_models())} built-in models" in seeded.stdout
    listed = run_cli("list", "--task", "img-classification", env=env)
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines()}
    assert names == {m.name for m in builtin_models("img-classification")}


def test_import_lemur_into_a_store_reports_skips(tmp_path):
    lemur = tmp_path / "ab.nn.db"
    build_lemur_db(lemur, marker=tmp_path / "ran.txt")
    store = f"sqlite:///{tmp_path / 'nasforge.db'}"
    result = run_cli("import-lemur", str(lemur), "--store", store)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("imported 2 of 5 models")
    rows = {line.split()[0]: line.split(None, 5) for line in result.stdout.splitlines()[3:-1]}
    assert rows["BrokenNet"][4:] == ["syntax_error", "line 2: invalid syntax"]
    assert rows["Detector"][4] == "skipped"
    assert not (tmp_path / "ran.txt").exists()
    listed = run_cli("list", "--store", store, "--json")
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {"ResNet", CAPTIONER_NAME}
    assert rows["ResNet"]["source"] == "lemur:ab.nn.db"
    assert rows["ResNet"]["metrics"]["accuracy"] == 0.83


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    missing = run_cli("import-lemur", str(tmp_path / "none.db"), "--store", str(tmp_path / "s.db"))
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("none.db: no such file")
    assert not (tmp_path / "s.db").exists()  # a bad file never creates the store
    not_sqlite = tmp_path / "text.db"
    not_sqlite.write_text("hello\n" * 200)
    assert (
        run_cli("import-lemur", str(not_sqlite), "--store", str(tmp_path / "s.db")).returncode == 2
    )
    bad_store = run_cli("list", "--store", "ftp://example.org/zoo")
    assert bad_store.returncode == 2 and "unsupported store URL" in bad_store.stderr
    assert run_cli().returncode == 2


def test_import_lemur_prints_each_model_at_its_resolution_and_the_totals(tmp_path):
    lemur = tmp_path / "ab.nn.db"
    build_resolution_db(lemur)
    store = str(tmp_path / "nasforge.db")
    text = run_cli("import-lemur", str(lemur), "--store", store)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"imported 4 of 6 models from {lemur} into {store}"
    assert lines[1].startswith("checked: statically at each model's resolution (--sandbox")
    assert lines[2].split() == ["name", "task", "transform", "in_shape", "outcome", "reason"]
    assert lines[3].split() == [
        "AlexNet64",
        "img-classification",
        "norm_64",
        "2x3x64x64",
        "imported",
    ]
    assert lines[-1] == "totals: imported 4, forbidden_code 1, syntax_error 1"
    report = json.loads(run_cli("import-lemur", str(lemur), "--store", store, "--json").stdout)
    assert report["totals"] == {"imported": 4, "forbidden_code": 1, "syntax_error": 1}
    assert report["checked"] == "static" and report["store"] == store
    pretrained = next(row for row in report["models"] if row["name"] == "Pretrained")
    assert (pretrained["transform"], pretrained["in_shape"]) == ("norm_256_flip", [2, 3, 256, 256])
    assert pretrained["outcome"] == "forbidden_code"


def test_a_budget_without_the_sandbox_is_a_usage_error(tmp_path):
    lemur = tmp_path / "ab.nn.db"
    build_resolution_db(lemur)
    result = run_cli(
        "import-lemur", str(lemur), "--store", str(tmp_path / "s.db"), "--parameter-budget", "10"
    )
    assert result.returncode == 2
    assert "--parameter-budget needs --sandbox" in result.stderr
    assert not (tmp_path / "s.db").exists()
