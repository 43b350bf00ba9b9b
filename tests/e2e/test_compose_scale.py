"""The `scale` profile end to end: `make up-scale` starts PostgreSQL and two search_core
replicas on it (search_core and search_core_2, each on its own public port), every service
with the shared quota ledger; searches submitted through both replicas all succeed, each
replica answers for every search, and the searches live in PostgreSQL.

Needs the Docker engine and the images (`make test` builds them; `make up-scale` builds
nasforge-postgres, Debian's PostgreSQL, where no registry serves postgres:16). A compose
project of its own on ports of its own, started from empty volumes and taken down after.
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from cli.secrets import read_tenant_token
from tests.e2e.team_client import TeamClient, generate_stubs

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
SECRETS = REPO / "var" / "compose" / "secrets"
CA_FILE = REPO / "var" / "compose" / "certs" / "ca.crt"  # written by `make up-scale`
TENANT = "e2e"
PUBLIC_PORTS = (50071, 50072)  # search_core, search_core_2
PROJECT = "nasforge-e2e-scale"
PROJECT_LABEL = f"com.docker.compose.project={PROJECT}"
COMPOSE = ["docker", "compose", "-p", PROJECT, "-f", str(REPO / "compose/compose.yaml")]
ENV = {
    "COMPOSE_PROJECT_NAME": PROJECT,
    "NASFORGE_PUBLIC_PORT": str(PUBLIC_PORTS[0]),
    "NASFORGE_PUBLIC_PORT_2": str(PUBLIC_PORTS[1]),
    "NASFORGE_PROMETHEUS_PORT": "9092",
}
ENDED = ("SEARCH_STATE_SUCCEEDED", "SEARCH_STATE_FAILED", "SEARCH_STATE_CANCELLED")


def template_search(candidates: int, epochs: int, seed: int) -> dict:
    """A random template search on Fashion-MNIST; with 0 epochs each candidate ends after
    its sandbox check."""
    return {
        "method": "random",
        "generator": "template",
        "max_candidates": candidates,
        "seed": seed,
        "task": {"dataset": "fashion-mnist", "in_shape": [32, 1, 28, 28], "out_shape": [10]},
        "training": {"epochs": epochs, "train_samples": 512, "validation_samples": 64,
                     "test_samples": 128},
    }  # fmt: skip


def make(*targets: str) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", *targets],
        cwd=REPO, env={**os.environ, **ENV}, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"make {' '.join(targets)}:\n{output}"


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True, timeout=120
    ).stdout


def container_of(service: str) -> str:
    [container] = docker(
        "ps", "-q", "--filter", f"label={PROJECT_LABEL}",
        "--filter", f"label=com.docker.compose.service={service}",
    ).split()  # fmt: skip
    return container


@pytest.fixture(scope="module")
def replicas(tmp_path_factory) -> list[TeamClient]:
    """A client of each search_core replica of a fresh `make up-scale` deployment."""
    docker(*COMPOSE[1:], "--profile", "scale", "down", "--volumes", "--remove-orphans")
    nasforge = str(REPO / ".venv" / "bin" / "nasforge")
    subprocess.run(
        [nasforge, "deploy", "secrets", "--tenant", "demo", "--tenant", TENANT],
        check=True, capture_output=True,
    )  # fmt: skip
    make("up-scale")
    stubs = tmp_path_factory.mktemp("team-stubs")
    generate_stubs(stubs)
    token = read_tenant_token(SECRETS, TENANT)
    clients = [TeamClient(stubs, f"127.0.0.1:{port}", token, CA_FILE) for port in PUBLIC_PORTS]
    yield clients
    for client in clients:
        client.close()
    make("down")
    docker(*COMPOSE[1:], "--profile", "scale", "down", "--volumes", "--remove-orphans")


def wait_until_ended(client: TeamClient, search_id: str, seconds: float = 900):
    deadline = time.monotonic() + seconds
    while True:
        search = client.search(search_id)
        if client.state_name(search.state) in ENDED:
            return search
        assert time.monotonic() < deadline, f"{search_id}: {client.state_name(search.state)}"
        time.sleep(1)


def run_searches(clients: list[TeamClient], count: int = 4) -> dict[str, int]:
    """Submit ``count`` searches alternately through each replica (the first one trains, the
    others only check), wait for all; {search id: replica index it was submitted to}."""
    run = uuid.uuid4().int % 10**6  # own seeds: a tenant's repeated code is a duplicate
    submitted = {}
    for n in range(count):
        config = template_search(candidates=2, epochs=1 if n == 0 else 0, seed=run + n)
        replica = n % len(clients)
        submitted[clients[replica].submit(config, f"scale-{run}-{n}")] = replica
    for search_id, replica in submitted.items():
        wait_until_ended(clients[replica], search_id)
    return submitted


@pytest.fixture(scope="module")
def searches(replicas) -> dict[str, int]:
    return run_searches(replicas)


def test_both_replicas_run_on_the_shared_postgres(replicas):
    for service in ("search_core", "search_core_2"):
        env = docker("inspect", "-f", "{{json .Config.Env}}", container_of(service))
        assert "NASFORGE_SEARCH_STORE_URL=postgresql://nasforge@postgres:5432/nasforge" in env
    for service in ("llm_gateway", "sandbox_runner", "trainer_svc", "search_core"):
        env = docker("inspect", "-f", "{{json .Config.Env}}", container_of(service))
        assert "NASFORGE_QUOTA_LEDGER=postgresql://nasforge@postgres:5432/nasforge" in env
    health = docker("inspect", "-f", "{{.State.Health.Status}}", container_of("postgres"))
    assert health.strip() == "healthy"


def test_searches_through_both_replicas_all_succeed(replicas, searches):
    assert set(searches.values()) == {0, 1}
    for search_id, replica in searches.items():
        for client in replicas:  # each replica answers for every search, from the store
            search = client.search(search_id)
            assert client.state_name(search.state) == "SEARCH_STATE_SUCCEEDED", (replica, search)
        candidates = replicas[1 - replica].candidates(search_id)
        assert len(candidates) == 2 and len({c.candidate_id for c in candidates}) == 2
        outcomes = [replicas[0].outcome_name(c.outcome) for c in candidates]
        assert outcomes == ["success", "success"], outcomes


def test_the_searches_are_rows_of_postgres(replicas, searches):
    rows = docker(
        "exec", container_of("postgres"), "psql", "-U", "nasforge", "-d", "nasforge", "-tAc",
        "SELECT search_id, state FROM searches",
    )  # fmt: skip
    stored = dict(line.split("|") for line in rows.split())
    assert {search_id: stored.get(search_id) for search_id in searches} == {
        search_id: "succeeded" for search_id in searches
    }
