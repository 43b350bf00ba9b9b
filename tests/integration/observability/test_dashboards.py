"""The Grafana provisioning and dashboards: valid schema, every query parses (promtool), and
every metric a query or rule names is one a service really exports."""

import asyncio
import json
import re
import subprocess

import yaml
from prometheus_client import CollectorRegistry

from llm_gateway.embedded.app import EmbeddedServer
from llm_gateway.embedded.protocol import Limits
from llm_gateway.metrics import GatewayMetrics
from rpc.metrics import RpcMetrics
from sandbox_runner.metrics import SandboxMetrics
from search_core.metrics import SearchMetrics
from tests.integration.observability.conftest import GRAFANA_DIR, RULE_FILES
from tests.support.promql import DASHBOARDS, dashboard_queries
from trainer_svc.metrics import TrainerMetrics

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
_NAME = re.compile(r"\bnasforge[_:][a-zA-Z0-9_:]+")


def _dashboards() -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))]


def _exported_names() -> set[str]:
    """Every series name the services' metrics classes expose (with _bucket, _total, ...)."""
    registry = CollectorRegistry()
    SearchMetrics(registry, tenants=["acme"], models=["m"], prompt_variants=["v1"])
    SandboxMetrics(registry)
    TrainerMetrics(registry, gpu=True)
    GatewayMetrics(registry, models=["m"], tenants=["acme"])
    RpcMetrics(registry).create_series("svc", ["Method"])
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    names = {  # from the families: a labelled series does not exist before its first use
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
    server = EmbeddedServer(object(), Limits(100, 200, 20, 4), max_concurrent_requests=1)
    exposition = asyncio.run(server.metrics(None)).text
    names |= {line.split()[0] for line in exposition.splitlines() if line}
    return names


def _recorded_names() -> set[str]:
    return {
        rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def test_dashboards_are_grafana_schema_39_on_the_provisioned_datasource():
    boards = _dashboards()
    assert len(boards) >= 3
    assert len({board["uid"] for board in boards}) == len(boards)
    for board in boards:
        assert board["schemaVersion"] == 39 and board["title"].startswith("nasforge")
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), board["title"]
        for panel in board["panels"]:
            assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == DATASOURCE, panel["title"]
            assert panel["description"], panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE and target["expr"], panel["title"]
        for variable in board["templating"]["list"]:
            assert variable["datasource"] == DATASOURCE


def test_provisioning_points_at_prometheus_and_the_dashboards_folder():
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert [(d["uid"], d["type"], d["url"]) for d in datasources] == [
        ("prometheus", "prometheus", "http://prometheus:9090")
    ]
    providers = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "nasforge.yml").read_text()
    )["providers"]
    assert [(p["type"], p["options"]["path"]) for p in providers] == [
        ("file", "/var/lib/grafana/dashboards")
    ]


def test_the_best_score_panel_says_why_there_is_no_per_search_series():
    panels = [p for board in _dashboards() for p in board["panels"] if p["title"] == "Best score"]
    assert len(panels) == 1
    assert "nasforge_search_best_score" in panels[0]["targets"][0]["expr"]
    assert "unbounded label" in panels[0]["description"]


def test_every_query_has_its_variables_substituted_and_parses(promtool, tmp_path):
    queries = dashboard_queries()
    assert len(queries) >= 30
    assert not [q for q in queries if "$" in q.expr or "[[" in q.expr]
    # promtool parses PromQL only inside rule files: each query becomes a recording rule.
    rules = [{"record": f"panel:query{i}", "expr": q.expr} for i, q in enumerate(queries)]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_queries_and_rules_name_only_metrics_that_exist():
    known = _exported_names() | _recorded_names()
    used = {name for query in dashboard_queries() for name in _NAME.findall(query.expr)}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                used |= set(_NAME.findall(rule["expr"]))
    assert sorted(used - known) == []
    # Every recording rule is shown, alerted on, or used by another rule.
    rules = "\n".join(path.read_text() for path in RULE_FILES)
    shown = {name for query in dashboard_queries() for name in _NAME.findall(query.expr)}
    unused = {
        name
        for name in _recorded_names()
        if name not in shown and rules.count(name) < 2  # its `record:` line alone
    }
    assert sorted(unused) == []
