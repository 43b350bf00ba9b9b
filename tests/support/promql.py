"""The provisioned Grafana dashboards' queries, and a small client of Prometheus' HTTP API.

`dashboard_queries` reads every panel query of compose/grafana/dashboards/*.json with its
Grafana variables replaced by values a real Prometheus accepts; `query` and
`wait_for_data` run PromQL against /api/v1/query (urllib only). The compose end-to-end
test and tests/integration/observability use them to prove that every panel has data.
"""

import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO_ROOT / "compose" / "grafana" / "dashboards"

# Grafana's built-in variables, as Grafana would set them for the last few minutes at a
# 5 s scrape interval, widened so that a query run just after a short search still covers
# it: $__rate_interval is at least four scrape intervals in Grafana.
BUILTIN_VALUES = {
    "__rate_interval": "5m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
# $var, ${var}, ${var:format}, [[var]]
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


class PrometheusError(RuntimeError):
    """Prometheus refused a query or could not be reached."""


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel, its expression ready for Prometheus."""

    dashboard: str
    panel: str
    ref_id: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} [{self.ref_id}]: {self.expr}"


def _variable_values(dashboard: dict) -> dict[str, str]:
    """Each template variable's value for a query over every tenant, model, ...: its "All"
    value (a regex) when it has one, else its current value, else the match-all regex."""
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        current = variable.get("current", {}).get("value")
        if variable.get("includeAll"):
            values[variable["name"]] = variable.get("allValue") or ".*"
        elif isinstance(current, str) and current and not current.startswith("$"):
            values[variable["name"]] = current
        else:
            values[variable["name"]] = ".*"
    return values


def substitute(expr: str, variables: dict[str, str], builtins: dict[str, str]) -> str:
    """`expr` with every Grafana variable replaced; an unknown one is an error."""

    def replace(match: re.Match) -> str:
        name = next(group for group in match.groups() if group)
        if name in variables:
            return variables[name]
        if name in builtins:
            return builtins[name]
        raise ValueError(f"unknown Grafana variable ${name} in {expr!r}")

    return _VARIABLE.sub(replace, expr)


def _panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def dashboard_queries(
    directory: Path = DASHBOARDS, builtins: dict[str, str] | None = None
) -> list[PanelQuery]:
    """Every Prometheus query of every dashboard JSON in `directory`, variables substituted."""
    builtins = {**BUILTIN_VALUES, **(builtins or {})}
    queries = []
    for path in sorted(Path(directory).glob("*.json")):
        dashboard = json.loads(path.read_text())
        variables = _variable_values(dashboard)
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("hide") or not target.get("expr"):
                    continue
                queries.append(
                    PanelQuery(
                        dashboard=dashboard["title"],
                        panel=panel.get("title", ""),
                        ref_id=target.get("refId", ""),
                        expr=substitute(target["expr"], variables, builtins),
                    )
                )
    return queries


def query(prometheus_url: str, expr: str, timeout: float = 10.0) -> list:
    """The result of an instant query: the list of series (a scalar or string result is
    returned as a one-element list). Raises PrometheusError when the query fails."""
    url = f"{prometheus_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # 400/422: a bad query, with Prometheus' reason
        detail = exc.read().decode(errors="replace")
        raise PrometheusError(f"{exc.code} for {expr!r}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PrometheusError(f"Prometheus at {prometheus_url} unreachable: {exc}") from exc
    if body.get("status") != "success":
        raise PrometheusError(f"{expr!r}: {body.get('errorType')}: {body.get('error')}")
    data = body["data"]
    if data["resultType"] in ("vector", "matrix"):
        return data["result"]
    return [data["result"]]


def has_finite_value(result: list) -> bool:
    """Whether some series of an instant-query result has a value that is not NaN/Inf."""
    for series in result:
        value = series.get("value") if isinstance(series, dict) else series
        if value is not None and math.isfinite(float(value[1])):
            return True
    return False


def wait_for_data(
    prometheus_url: str,
    expr: str,
    timeout: float,
    *,
    finite: bool = False,
    interval: float = 1.0,
) -> list:
    """Query until the result is not empty (with `finite`, until a value is neither NaN
    nor infinite), and return it; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    result: list = []
    while True:
        result = query(prometheus_url, expr)
        if result and (not finite or has_finite_value(result)):
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no data for {expr!r} after {timeout:g} s (last: {result!r})")
        time.sleep(interval)
