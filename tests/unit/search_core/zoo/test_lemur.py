"""LEMUR import: models and best accuracies from a LEMUR-shaped file, skips with reasons."""

import hashlib
import sqlite3

import pytest

from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION
from search_core.identity import normalised_md5
from search_core.zoo.lemur import LemurFormatError, read_lemur
from tests.unit.search_core.zoo.lemur_db import CAPTIONER_NAME, build_lemur_db


@pytest.fixture
def lemur(tmp_path):
    path = tmp_path / "ab.nn.db"
    marker = tmp_path / "ran.txt"
    rows = build_lemur_db(path, marker=marker)
    return path, marker, rows


def test_models_with_their_task_family_and_best_accuracy(lemur):
    path, _, rows = lemur
    report = read_lemur(path)
    assert report.source == "lemur:ab.nn.db"
    assert report.rows == 5 and report.imported == 2
    models = {model.name: model for model in report.models}
    resnet, captioner = models["ResNet"], models[CAPTIONER_NAME]
    assert resnet.task == IMG_CLASSIFICATION and resnet.family == "ResNet"
    assert resnet.metrics == {"accuracy": 0.83, "epoch": 5.0}
    assert resnet.code == rows["ResNet"] and resnet.code_md5 == normalised_md5(rows["ResNet"])
    assert resnet.source == "lemur:ab.nn.db"
    assert captioner.task == IMG_CAPTIONING
    assert (captioner.family, captioner.encoder, captioner.decoder) == (
        "ResNetLSTM",
        "ResNet",
        "LSTM",
    )
    assert captioner.metrics["accuracy"] == 0.25


def test_broken_unknown_task_and_untrained_rows_are_refused_with_reasons(lemur):
    path, _, _ = lemur
    refused = {entry.name: (entry.outcome, entry.reason) for entry in read_lemur(path).refused}
    assert set(refused) == {"BrokenNet", "Detector", "Untrained"}
    assert refused["BrokenNet"][0] == "syntax_error"
    assert refused["BrokenNet"][1].startswith("line 2: ")
    assert refused["Detector"] == ("skipped", "unknown task obj-detection")
    assert refused["Untrained"][0] == "skipped" and "no trial" in refused["Untrained"][1]


def test_the_file_is_read_only_and_no_code_runs(lemur):
    path, marker, _ = lemur
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    read_lemur(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not marker.exists()


def test_missing_optional_stat_columns_give_models_without_metrics(tmp_path):
    path = tmp_path / "lean.db"
    build_lemur_db(path, marker=tmp_path / "ran.txt", full_stat=False)
    report = read_lemur(path)
    assert {model.name: model.metrics for model in report.models} == {
        "ResNet": {},
        CAPTIONER_NAME: {},
    }


def test_a_file_that_is_not_lemur_is_a_format_error(tmp_path):
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("just text, not a database\n" * 100)
    with pytest.raises(LemurFormatError, match="not a database"):
        read_lemur(not_sqlite)
    with pytest.raises(LemurFormatError, match="no such file"):
        read_lemur(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(LemurFormatError, match="no LEMUR nn table"):
        read_lemur(other)
