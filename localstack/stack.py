"""`LocalStack`: one local deployment, started and stopped as a whole; search_core as one
or several replicas on one store, each a process that can be killed, stopped, restarted or
added on its own."""

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
    replica_index,
    replica_name,
    service_environment,
    service_of,
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
    # search_core's store, shared by all its replicas: an SQLite path or a postgresql:// URL;
    # "" is <directory>/nasforge.db.
    store_url: str = ""
    # NASFORGE_QUOTA_LEDGER of every gRPC service (a postgresql:// URL: quotas counted once
    # for all replicas); "" sets nothing, and each process counts its own.
    quota_ledger_url: str = ""
    search_core_replicas: int = 1  # processes search_core, search_core-2, ...
    # service -> env, for each of its replicas; "<service>-<n>" (search_core-1 for the first,
    # search_core-2, ...) -> env of that replica alone, on top.
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
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

    def target(self, process: str) -> str:
        """The address of one process: `search_core` (the first replica), `search_core-2`..."""
        return f"127.0.0.1:{self.processes[process].port}"

    def replicas(self, service: str) -> list[str]:
        """The process names of ``service``'s replicas, first to last (killed or stopped ones
        included until stop())."""
        names = [name for name in self.processes if service_of(name) == service]
        return sorted(names, key=replica_index)

    def targets(self, service: str = "search_core") -> list[str]:
        """The address of each replica of ``service``, first to last."""
        return [self.target(name) for name in self.replicas(service)]

    def is_running(self, process: str) -> bool:
        """Whether a process of the stack is alive (not killed, stopped or crashed)."""
        return self.processes[process].process.poll() is None

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
                    for index in range(1, self._replica_count(name) + 1):
                        self._launch_replica(name, index)
        except BaseException:
            self.stop()
            raise
        self._write_description()
        return self

    def restart(self, process: str) -> None:
        """Stop one process (a service or one replica, if it still runs) and start it again
        on the same port with the same settings."""
        stopped = self.processes.pop(process)
        terminate(stopped.process)
        self._launch(process, stopped.env)
        self._write_description()

    def kill(self, process: str) -> None:
        """SIGKILL one process (a service or one replica), as a crash would. It stays listed
        (dead) until restart() or stop()."""
        self.processes[process].process.send_signal(signal.SIGKILL)
        self.processes[process].process.wait(10)

    def terminate(self, process: str) -> int:
        """SIGTERM one process and wait for it (a graceful stop, as in a rolling update);
        its exit code. It stays listed (stopped) until restart() or stop()."""
        return terminate(self.processes[process].process)

    def add_replica(self, service: str = "search_core") -> str:
        """Start one more replica of a running ``service`` on a new port; its process name.
        Only search_core is meant to have several: search_core calls one address of each
        other service (an `ipv4:` list of several fails TLS's host name check)."""
        index = max(map(replica_index, self.replicas(service)), default=0) + 1
        name = self._launch_replica(service, index)
        self._write_description()
        return name

    def stop(self) -> dict[str, int]:
        """SIGTERM every process, search_core's replicas first; return their exit codes
        (-9 for one killed and not restarted). Containers a service could not remove itself
        (it was killed, or ran out of shutdown time) are removed afterwards."""
        codes = {}
        stopped_containers = "sandbox_runner" in self.processes or "trainer_svc" in self.processes
        for service in reversed(SERVICES):
            for name in self.replicas(service):
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
        for name in self.replicas("search_core"):  # each replica re-reads the registry
            if self.is_running(name):
                wait_until_accepted(self.target(name), self.public_tls, token)
        return fields["token id"].strip(), token

    def _replica_count(self, service: str) -> int:
        if service != "search_core":
            return 1
        if self.search_core_replicas < 1:
            raise StackError(f"search_core_replicas={self.search_core_replicas}: at least 1")
        return self.search_core_replicas

    def _launch_replica(self, service: str, index: int) -> str:
        name = replica_name(service, index)
        env = {
            **service_environment(self, service),
            **self.extra_env.get(service, {}),
            **self.extra_env.get(f"{service}-{index}", {}),
        }
        self._launch(name, env)
        return name

    def _launch(self, name: str, env: dict[str, str]) -> None:
        service = SERVICES[service_of(name)]
        log_path = self.directory / f"{name}.log"
        self.processes[name] = start_process(
            name, service.module, env, log_path, service.ready, REPO_ROOT
        )

    def _write_description(self) -> None:
        write_description(
            self.directory,
            {name: self.target(name) for name in ("search_core", "llm_gateway")},
            {"search_core": self.targets("search_core")},
            self.tenant,
            self.tenant_token,
            self.internal_tls,
            {name: running.process.pid for name, running in self.processes.items()},
        )
