"""Fixtures: the Prometheus tools (Debian package `prometheus`, 2.42), and the compose
observability files. A missing tool fails the tests: these checks must not pass unseen."""

import shutil
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO_ROOT / "compose" / "prometheus"
GRAFANA_DIR = REPO_ROOT / "compose" / "grafana"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
CONTAINER_DIR = "/etc/prometheus/"  # where compose mounts compose/prometheus/


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: `apt-get install -y prometheus` (Debian, 2.42) provides "
            "promtool and prometheus",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return _tool("prometheus")


def load_prometheus_config() -> dict:
    return yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())


def repo_rule_files(config: dict) -> list[str]:
    """The config's rule_files (container paths) as paths of this checkout."""
    paths = []
    for path in config["rule_files"]:
        assert path.startswith(CONTAINER_DIR), path
        paths.append(str(PROMETHEUS_DIR / path.removeprefix(CONTAINER_DIR)))
    return paths
