"""The local stack's replica bookkeeping and per-service settings, without starting it."""

import pytest

from localstack import LocalStack, StackProcess
from localstack.environment import (
    QUOTA_LEDGER_ENV,
    replica_index,
    replica_name,
    service_environment,
    service_of,
)


def _stack(tmp_path, **options) -> LocalStack:
    return LocalStack(directory=tmp_path, plaintext=True, **options)


def _listed(stack: LocalStack, *names: str) -> None:
    for port, name in enumerate(names, start=40000):
        stack.processes[name] = StackProcess(name, process=None, port=port, log_path=None)


@pytest.mark.parametrize(
    ("service", "index", "process"),
    [("search_core", 1, "search_core"), ("search_core", 2, "search_core-2"),
     ("llm_gateway", 12, "llm_gateway-12")],
)  # fmt: skip
def test_replica_names_round_trip(service, index, process):
    assert replica_name(service, index) == process
    assert service_of(process) == service
    assert replica_index(process) == index


def test_replicas_are_listed_in_order_and_addressed_one_by_one(tmp_path):
    stack = _stack(tmp_path)
    _listed(stack, "search_core-10", "llm_gateway", "search_core", "search_core-2")
    assert stack.replicas("search_core") == ["search_core", "search_core-2", "search_core-10"]
    assert stack.replicas("llm_gateway") == ["llm_gateway"]
    assert stack.targets() == ["127.0.0.1:40002", "127.0.0.1:40003", "127.0.0.1:40000"]
    assert stack.target("search_core") == stack.targets()[0]


def test_every_grpc_service_gets_the_quota_ledger(tmp_path):
    url = "postgresql://nasforge@127.0.0.1:5432/ledger"
    stack = _stack(tmp_path, quota_ledger_url=url, store_url="postgresql://x@127.0.0.1/store")
    _listed(stack, "llm_gateway", "sandbox_runner", "trainer_svc")
    for service in ("llm_gateway", "sandbox_runner", "trainer_svc", "search_core"):
        assert service_environment(stack, service)[QUOTA_LEDGER_ENV] == url
    search_core = service_environment(stack, "search_core")
    assert search_core["NASFORGE_SEARCH_STORE_URL"] == "postgresql://x@127.0.0.1/store"


def test_without_a_ledger_nothing_is_set_and_the_store_is_the_sqlite_file(tmp_path):
    stack = _stack(tmp_path)
    _listed(stack, "llm_gateway", "sandbox_runner", "trainer_svc")
    env = service_environment(stack, "search_core")
    assert QUOTA_LEDGER_ENV not in env
    assert env["NASFORGE_SEARCH_STORE_URL"] == str(tmp_path / "nasforge.db")
