"""`LocalStack`: one local deployment, started and stopped as a whole."""

import signal
from dataclasses import dataclass, field
from pathlib import Path

from cli.secrets import SEARCH_CORE_PRINCIPAL, write_token_table
from localstack.cleanup import reap_leftovers
from localstack.description import write_description
from localstack.environment import (
    CLI_CLIENT,
    DEFAULT_DIR,
    REPO_ROOT,
    SERVICES,
    service_environment,
)
from localstack.supervision import StackError, StackProcess, start_process, terminate
from localstack.tenants import manage_tenants, wait_until_accepted
from rpc.certs import CLIENTS, ca_file, client_files, write_dev_certificates
from rpc.client import ClientTLS
from rpc.tenants import new_token


@dataclass
class LocalStack:
    """The services of one local deployment; `start()` then `stop()`."""

    directory: Path = DEFAULT_DIR
    model: str = "qwen2.5-coder-0.5b"
    llm_threads: int = 2
    # Constrain code answers to one fenced Python block (a grammar on the embedded server).
    # Off by default: on 2 cores it costs 43% of the decoding speed (README, "LLM generation").
    constrain_code: bool = False
    tenant: str = "demo"
    namespace: str = "nasforge-local"
    store_url: str = ""
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)  # service -> env
    processes: dict[str, StackProcess] = field(default_factory=dict)
    tenant_token: str = ""
    leftovers_removed: int = 0  # containers/volumes the last stop() had to remove itself
    plaintext: bool = False  # local development only: no TLS anywhere

    @property
    def certs_directory(self) -> Path:
        return self.directory / "certs"

    @property
    def tokens_file(self) -> Path:
        """The tenant registry every service reads (digests only)."""
        return self.directory / "tokens.json"

    @property
    def service_token_file(self) -> Path:
        """search_core's token for its calls to the other services."""
        return self.directory / "service-token"

    @property
    def public_tls(self) -> ClientTLS | None:
        """What a client of search_core's public port needs (the CA); None: plaintext."""
        return None if self.plaintext else ClientTLS(ca_file(self.certs_directory))

    @property
    def internal_tls(self) -> ClientTLS | None:
        """What a client of llm_gateway, sandbox_runner or trainer_svc needs: the CA and a
        client certificate (mutual TLS); None: plaintext."""
        if self.plaintext:
            return None
        cert, key = client_files(self.certs_directory, CLI_CLIENT)
        return ClientTLS(ca_file(self.certs_directory), cert, key)

    @property
    def model_path(self) -> Path:
        return REPO_ROOT / "var" / "models" / f"{self.model}.gguf"

    def target(self, service: str) -> str:
        return f"127.0.0.1:{self.processes[service].port}"

    def start(self, *, with_llm: bool = True) -> "LocalStack":
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tenant_token = new_token()
        service_token = new_token()
        write_token_table(
            self.tokens_file,
            {self.tenant: self.tenant_token},
            {SEARCH_CORE_PRINCIPAL: service_token},
        )
        self.service_token_file.write_text(service_token)
        self.service_token_file.chmod(0o600)
        if not self.plaintext:
            write_dev_certificates(self.certs_directory, clients=(*CLIENTS, CLI_CLIENT))
        try:
            if with_llm and not self.model_path.is_file():
                raise StackError(f"{self.model_path} is missing: run `make llm` first")
            for name in SERVICES:
                if name != "embedded" or with_llm:
                    env = {**service_environment(self, name), **self.extra_env.get(name, {})}
                    self._launch(name, env)
        except BaseException:
            self.stop()
            raise
        self._write_description()
        return self

    def restart(self, service: str) -> None:
        """Stop one service (if it still runs) and start it again on the same port."""
        stopped = self.processes.pop(service)
        terminate(stopped.process)
        self._launch(service, stopped.env)
        self._write_description()

    def kill(self, service: str) -> None:
        """SIGKILL one service, as a crash would."""
        self.processes[service].process.send_signal(signal.SIGKILL)
        self.processes[service].process.wait(10)

    def stop(self) -> dict[str, int]:
        """SIGTERM every service, search_core first; return their exit codes. Containers a
        service could not remove itself (it was killed, or ran out of shutdown time) are
        removed afterwards."""
        codes = {}
        stopped_containers = "sandbox_runner" in self.processes or "trainer_svc" in self.processes
        for name in reversed(SERVICES):
            if name in self.processes:
                codes[name] = terminate(self.processes.pop(name).process)
        if stopped_containers:
            self.leftovers_removed = reap_leftovers(self.namespace)
        return codes

    def manage_tenants(self, *args: str) -> str:
        """Run `nasforge tenant --file <stack>/tokens.json ARGS` as an operator would (the
        services pick the change up within a second or two); its stdout."""
        return manage_tenants(self.tokens_file, *args)

    def add_tenant(self, name: str, *quotas: str) -> tuple[str, str]:
        """Create tenant ``name`` with KEY=VALUE quotas and issue it a token: (id, token)."""
        self.manage_tenants("create", name, *(f"--quota={q}" for q in quotas))
        return self.add_token(name)

    def add_token(self, name: str) -> tuple[str, str]:
        """A new token of an existing tenant: (token id, token), returned once search_core
        accepts it (the services re-read the registry within a second or two)."""
        printed = self.manage_tenants("token-add", name).splitlines()
        fields = dict(line.split(": ", 1) for line in printed)
        token = fields["token"].strip()
        if "search_core" in self.processes:
            wait_until_accepted(self.target("search_core"), self.public_tls, token)
        return fields["token id"].strip(), token

    def _launch(self, name: str, env: dict[str, str]) -> None:
        service = SERVICES[name]
        log_path = self.directory / f"{name}.log"
        self.processes[name] = start_process(
            name, service.module, env, log_path, service.ready, REPO_ROOT
        )

    def _write_description(self) -> None:
        write_description(
            self.directory,
            {name: self.target(name) for name in ("search_core", "llm_gateway")},
            self.tenant,
            self.tenant_token,
            self.internal_tls,
            {name: running.process.pid for name, running in self.processes.items()},
        )
