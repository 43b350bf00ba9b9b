"""promtool on the compose Prometheus files: the config and the rules are valid, and the
rules' unit tests (compose/prometheus/tests) pass."""

import subprocess

import yaml

from tests.integration.observability.conftest import (
    PROMETHEUS_DIR,
    RULE_FILES,
    RULE_TESTS,
    load_prometheus_config,
    repo_rule_files,
)


def _run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_the_config_is_valid_with_its_rule_files(promtool, tmp_path):
    config = load_prometheus_config()
    config["rule_files"] = repo_rule_files(config)  # as mounted: /etc/prometheus/rules/...
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = _run(promtool, "check", "config", str(copy))
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, result.stdout


def test_the_rule_files_are_valid(promtool):
    assert {path.name for path in RULE_FILES} == {"recording.yml", "alerts.yml"}
    result = _run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


def test_the_rule_unit_tests_pass(promtool):
    assert len(RULE_TESTS) >= 2
    # Test files name their rule files relative to themselves.
    result = subprocess.run(
        [promtool, "test", "rules", *(path.name for path in RULE_TESTS)],
        cwd=PROMETHEUS_DIR / "tests",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


def test_every_rule_has_a_unit_test():
    rules = [yaml.safe_load(path.read_text()) for path in RULE_FILES]
    names = {
        rule.get("record") or rule.get("alert")
        for document in rules
        for group in document["groups"]
        for rule in group["rules"]
    }
    tested = "\n".join(path.read_text() for path in RULE_TESTS)
    assert sorted(name for name in names if name not in tested) == []


def test_every_alert_has_for_severity_and_annotations():
    alerts = yaml.safe_load((PROMETHEUS_DIR / "rules" / "alerts.yml").read_text())
    for group in alerts["groups"]:
        for rule in group["rules"]:
            assert rule.get("for"), rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert rule["annotations"].keys() >= {"summary", "description"}, rule["alert"]
