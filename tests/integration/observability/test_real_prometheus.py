"""A real Prometheus (Debian's binary, on loopback) with the compose config and rules,
scraping a real local stack: after one small LLM generation and a small template search,
the recording rules agree with the store's counts and every dashboard query has data."""

import asyncio
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest
import yaml

from cli.search_client import SearchClient
from localstack import LocalStack
from nasforge.llm_gateway.v1 import llm_gateway_pb2 as gateway_pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as gateway_grpc
from nasforge.search_core.v1 import search_core_pb2 as pb
from rpc.client import open_channel
from tests.integration.observability.conftest import load_prometheus_config, repo_rule_files
from tests.integration.search.conftest import small_config
from tests.support.promql import dashboard_queries, query, wait_for_data

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

PREFIXES = {
    "search_core": "NASFORGE_SEARCH_",
    "llm_gateway": "NASFORGE_GATEWAY_",
    "sandbox_runner": "NASFORGE_SANDBOX_",
    "trainer_svc": "NASFORGE_TRAINER_",
}
# Jobs of the compose config that the local stack does not have.
NOT_LOCAL = {"docker_proxy_sandbox", "docker_proxy_trainer"}
TENANT = "acme"
CANDIDATES = 2
# Short enough that the whole search stays inside the 5-minute rate windows.
SMALL_TRAINING = {"epochs": 1, "train_samples": 256, "validation_samples": 64, "test_samples": 64}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def local_config(ports: dict[str, int]) -> dict:
    """The compose config with each job's targets replaced by the local process's port,
    1 s intervals, and the rule files of this checkout."""
    config = load_prometheus_config()
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config["rule_files"] = repo_rule_files(config)
    jobs = []
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name in NOT_LOCAL:
            continue
        local = {k: v for k, v in job.items() if k not in ("static_configs", "dns_sd_configs")}
        labels = job["static_configs"][0].get("labels", {}) if "static_configs" in job else {}
        local["static_configs"] = [{"targets": [f"127.0.0.1:{ports[name]}"], "labels": labels}]
        jobs.append(local)
    config["scrape_configs"] = jobs
    return config


@pytest.fixture
def stack(tmp_path):
    metrics_ports = {name: _free_port() for name in PREFIXES}
    extra_env = {
        name: {f"{prefix}METRICS_PORT": str(metrics_ports[name])}
        for name, prefix in PREFIXES.items()
    }
    # search_core creates its candidate series at zero for prompt_variant "other" only;
    # a series created at its first increment loses that increment to rate(). Mapping every
    # variant to "other" keeps the recording rules comparable with the store's counts.
    extra_env["search_core"]["NASFORGE_SEARCH_METRICS_PROMPT_VARIANTS"] = "[]"
    instance = LocalStack(
        directory=tmp_path / "stack",
        tenant=TENANT,
        namespace=f"nasforge-test-{uuid.uuid4().hex[:8]}",
        extra_env=extra_env,
    )
    instance.start(with_llm=True)
    instance.metrics_ports = {**metrics_ports, "model_server": instance.processes["embedded"].port}
    yield instance
    codes = instance.stop()
    assert all(code == 0 for code in codes.values()), codes


@pytest.fixture
def prometheus(tmp_path, prometheus_binary, stack):
    port = _free_port()
    config = local_config({**stack.metrics_ports, "prometheus": port})
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / "prometheus.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"prometheus did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url, [job["job_name"] for job in config["scrape_configs"]]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


async def _one_generation(stack: LocalStack) -> None:
    """One small generation through llm_gateway and the embedded model server."""
    async with open_channel(
        stack.target("llm_gateway"), token=stack.tenant_token, tls=stack.internal_tls
    ) as channel:
        reply = await gateway_grpc.LlmGatewayServiceStub(channel).Generate(
            gateway_pb.GenerateRequest(
                model=stack.model,
                messages=[
                    gateway_pb.ChatMessage(
                        role="user",
                        content="Write a PyTorch nn.Module class Net with one Linear layer.",
                    )
                ],
                parameters=gateway_pb.GenerationParameters(max_new_tokens=48, seed=1),
                answer_kind=gateway_pb.ANSWER_KIND_NET_CODE,
            ),
            timeout=300,
        )
    assert reply.generated_tokens > 0


async def _search(stack: LocalStack) -> dict[str, int]:
    async with SearchClient(
        stack.target("search_core"), stack.tenant_token, tls=stack.public_tls
    ) as client:
        config = small_config("random", candidates=CANDIDATES, training=SMALL_TRAINING)
        search_id = await client.submit(config)
        async for _ in client.stub.WatchSearch(
            pb.WatchSearchRequest(search_id=search_id), timeout=600
        ):
            pass
        search = (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
    assert search.state == pb.SEARCH_STATE_SUCCEEDED
    return dict(search.outcome_counts)


def _value(result: list) -> float:
    (series,) = result
    return float(series["value"][1])


def _wait_for_value(url: str, expr: str, expected: float, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while True:
        result = query(url, expr)
        if len(result) == 1 and abs(_value(result) - expected) < 1e-9:
            return expected
        if time.monotonic() > deadline:
            raise AssertionError(f"{expr} = {result!r}, expected {expected}")
        time.sleep(0.5)


async def test_rules_match_the_store_and_every_panel_has_data(stack, prometheus):
    url, jobs = prometheus
    up = f"count(up == 1) == {len(jobs)}"
    await asyncio.to_thread(wait_for_data, url, up, 60)

    started = time.monotonic()
    await _one_generation(stack)
    generation_seconds = time.monotonic() - started
    counts = await _search(stack)
    assert sum(counts.values()) == CANDIDATES

    # Scraped: the counters of search_core are the store's counts.
    scraped = f'sum by (outcome) (nasforge_candidates_total{{tenant="{TENANT}"}}) > 0'
    deadline = time.monotonic() + 30
    while True:
        result = await asyncio.to_thread(query, url, scraped)
        seen = {s["metric"]["outcome"]: round(float(s["value"][1])) for s in result}
        if seen == counts or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert seen == counts

    # Recorded: the 1-hour ratios (the whole search is in the window) are the store's.
    judged = CANDIDATES - counts.get("infra_error", 0)
    compliance = ("api_noncompliance", "shape_mismatch", "forbidden_code", "too_large")
    expected = {
        "success": counts.get("success", 0) / judged,
        "hallucination": counts.get("hallucinated_api", 0) / judged,
        "compliance_failure": sum(counts.get(outcome, 0) for outcome in compliance) / judged,
        "infra_error": counts.get("infra_error", 0) / CANDIDATES,
    }
    selector = f'{{tenant="{TENANT}", model="template", prompt_variant="other"}}'
    for name, value in expected.items():
        expr = f"nasforge:candidate_{name}:ratio_rate1h{selector}"
        await asyncio.to_thread(_wait_for_value, url, expr, value)
        five_minutes = await asyncio.to_thread(
            query, url, f"nasforge:candidate_{name}:ratio_rate5m{selector}"
        )
        assert len(five_minutes) == 1, name

    # Every panel of every dashboard has data.
    empty = []
    for panel_query in dashboard_queries():
        if not await asyncio.to_thread(query, url, panel_query.expr):
            empty.append(str(panel_query))
    assert empty == [], "\n".join(empty)
    print(f"one generation: {generation_seconds:.1f} s; outcomes: {counts}")
