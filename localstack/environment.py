"""What each service of the local stack is started with: one table, a row per service.

A row names the module (`python -m`), the prefix of its settings (NASFORGE_<SVC>_) and the
line it prints once it listens, and builds its own settings from the stack. The settings
every gRPC service shares (token table, host, port, transport, the quota ledger) are added
in one place. search_core may run as several replicas: processes `search_core`,
`search_core-2`, `search_core-3`, ..., each with its own port and the same settings.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from localstack.supervision import free_port
from rpc.certs import SEARCH_CORE_CLIENT, ca_file, client_files, server_files

if TYPE_CHECKING:
    from localstack.stack import LocalStack

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO_ROOT / "var" / "stack"
NAME_INDEX = REPO_ROOT / "var" / "torch_index.json"
# An NN-Caption prompt (a baseline and 5 zoo classifiers) is about 6,500 tokens.
CONTEXT_TOKENS = 12288
CLI_CLIENT = "nasforge-cli"  # the client certificate of tests and `nasforge` commands
# Not prefixed: one shared ledger (a postgresql:// URL) for the quotas of every service.
QUOTA_LEDGER_ENV = "NASFORGE_QUOTA_LEDGER"


@dataclass(frozen=True)
class Service:
    """How one service of the stack starts."""

    module: str  # python -m <module>
    prefix: str  # of its pydantic settings
    ready: str  # the start of the line it prints with its port once it listens
    settings: Callable[["LocalStack"], dict[str, str]]  # its own settings, unprefixed
    grpc: bool = True  # one of ours: token table, host, a fixed port, TLS


def _embedded(stack: "LocalStack") -> dict[str, str]:
    return {
        "PORT": "0",
        "MODEL_PATH": str(stack.model_path),
        "MODEL_ID": stack.model,
        "THREADS": str(stack.llm_threads),
        "MAX_TOTAL_TOKENS": str(CONTEXT_TOKENS),
        "MAX_INPUT_TOKENS": str(CONTEXT_TOKENS - 1024),
        "MAX_CONCURRENT_REQUESTS": "1",
    }


def _gateway_models(stack: "LocalStack") -> list[dict]:
    """The embedded model server, when the stack runs one."""
    if "embedded" not in stack.processes:
        return []
    return [
        {
            "name": stack.model,
            "backend": "embedded",
            "url": f"http://127.0.0.1:{stack.processes['embedded'].port}",
            "max_total_tokens": CONTEXT_TOKENS,
            "default_max_new_tokens": 1024,
            "max_new_tokens_limit": 2048,
            "timeout_seconds": 900,
            "max_concurrent_requests": 1,
            "constrain_code": stack.constrain_code,
        }
    ]


# In start order; the stack stops them in the reverse order (search_core first).
SERVICES: dict[str, Service] = {
    "embedded": Service(
        "llm_gateway.embedded",
        "NASFORGE_EMBEDDED_",
        "embedded model server listening on port",
        _embedded,
        grpc=False,
    ),
    "llm_gateway": Service(
        "llm_gateway",
        "NASFORGE_GATEWAY_",
        "llm_gateway listening on port",
        lambda stack: {
            "MODELS": json.dumps(_gateway_models(stack)),
            "NAME_INDEX_PATH": str(NAME_INDEX),
        },
    ),
    "sandbox_runner": Service(
        "sandbox_runner",
        "NASFORGE_SANDBOX_",
        "sandbox_runner listening on port",
        lambda stack: {
            "NAMESPACE": f"{stack.namespace}-sandbox",
            "NAME_INDEX_PATH": str(NAME_INDEX),
            "POOL_SIZE": "1",
        },
    ),
    "trainer_svc": Service(
        "trainer_svc",
        "NASFORGE_TRAINER_",
        "trainer_svc listening on port",
        lambda stack: {
            "NAMESPACE": f"{stack.namespace}-trainer",
            "REGISTRY_ROOT": str(stack.directory / "datasets"),
        },
    ),
    "search_core": Service(
        "search_core",
        "NASFORGE_SEARCH_",
        "search_core listening on port",
        lambda stack: {
            "STORE_URL": stack.store_url or str(stack.directory / "nasforge.db"),
            "GATEWAY_TARGET": stack.target("llm_gateway"),
            "SANDBOX_TARGET": stack.target("sandbox_runner"),
            "TRAINER_TARGET": stack.target("trainer_svc"),
            "SERVICE_TOKEN_FILE": str(stack.service_token_file),
            "METRICS_TENANTS": json.dumps([stack.tenant]),
            "METRICS_MODELS": json.dumps([stack.model]),
            "DEFAULT_MODEL": stack.model,
        },
    ),
}


def replica_name(service: str, index: int) -> str:
    """The process name of replica ``index`` (1-based) of ``service``: the first keeps the
    service's own name, so a one-replica stack is named as it always was."""
    return service if index == 1 else f"{service}-{index}"


def service_of(process: str) -> str:
    """The service a process name belongs to (`search_core-2` -> `search_core`)."""
    return process.split("-", 1)[0]


def replica_index(process: str) -> int:
    """1 for `search_core`, 2 for `search_core-2`, ..."""
    _, _, index = process.partition("-")
    return int(index) if index else 1


def service_environment(stack: "LocalStack", name: str) -> dict[str, str]:
    """The environment variables of service ``name`` (prefixed, and the shared quota
    ledger's), before the stack's ``extra_env``. Each call picks a new free port, so each
    replica gets its own."""
    service = SERVICES[name]
    env = service.settings(stack)
    if service.grpc:
        env = {
            "AUTH_TOKENS_FILE": str(stack.tokens_file),
            "HOST": "127.0.0.1",
            **transport_environment(stack, name),
            "PORT": free_port(),
            **env,
        }
    prefixed = {service.prefix + key: value for key, value in env.items()}
    if service.grpc and stack.quota_ledger_url:
        prefixed[QUOTA_LEDGER_ENV] = stack.quota_ledger_url
    return prefixed


def transport_environment(stack: "LocalStack", service: str) -> dict[str, str]:
    """The TLS settings of a service: mutual TLS for the internal ones; for search_core
    server TLS (its clients need only the CA) and its client certificate for its calls."""
    if stack.plaintext:
        return {"PLAINTEXT": "true"}
    certs = stack.certs_directory
    cert, key = server_files(certs, service)
    env = {"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)}
    if service != "search_core":
        return {**env, "TLS_CLIENT_CA_FILE": str(ca_file(certs))}
    client_cert, client_key = client_files(certs, SEARCH_CORE_CLIENT)
    return {
        **env,
        "CLIENT_CA_FILE": str(ca_file(certs)),
        "CLIENT_CERT_FILE": str(client_cert),
        "CLIENT_KEY_FILE": str(client_key),
    }
