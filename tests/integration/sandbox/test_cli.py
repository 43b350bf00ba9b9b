"""`nasforge sandbox check` as a user runs it: a subprocess, a real container, its JSON."""

import json
import os
import subprocess
import sys

from tests.integration.sandbox.conftest import CORPUS, REPO_ROOT


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "cli", "sandbox", "check", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
    )


def test_full_check_json_has_the_static_shape_plus_measurements():
    result = run(str(CORPUS / "07_good_caption_cnn_gru.py"), "--task", "img-captioning", "--json")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["outcome"] == "success" and verdict["findings"] == []
    assert verdict["task"] == "img-captioning" and verdict["mode"] == "cold"
    assert verdict["parameter_count"] > 0 and verdict["flops"] > 0
    assert verdict["durations_ms"]["learn"] > 0 and verdict["wall_time_ms"] > 0


def test_human_output_names_the_failure():
    result = run(str(CORPUS / "65_missing_criteria.py"), "--task", "img-classification")
    assert result.returncode == 0
    assert result.stdout.startswith("outcome: api_noncompliance (static")
    assert "self.criteria" in result.stdout


def test_criterion_is_a_warning_beside_a_success():
    """LEMUR trains a model that sets self.criterion: so does nasforge, and says so."""
    result = run(str(CORPUS / "52_criterion_typo.py"), "--task", "img-classification", "--json")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["outcome"] == "success" and verdict["findings"] == []
    assert [w["rule"] for w in verdict["warnings"]] == ["criterion-for-criteria"]
    human = run(str(CORPUS / "52_criterion_typo.py"), "--task", "img-classification")
    assert "[criterion-for-criteria] warning: the Net API names it criteria" in human.stdout


def test_docker_unreachable_is_exit_1_with_one_line():
    result = run(
        str(CORPUS / "01_good_cnn.py"),
        "--task",
        "img-classification",
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    assert result.returncode == 1
    assert "Docker engine unavailable" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unreadable_file_is_exit_2():
    result = run("/nonexistent.py", "--task", "img-classification")
    assert result.returncode == 2 and "no such file" in result.stderr
