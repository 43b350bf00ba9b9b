"""A local nasforge: every service as a process on 127.0.0.1, for `make demo`, the CLI and tests.

`LocalStack` starts the embedded model server, llm_gateway, sandbox_runner, trainer_svc
and search_core with fresh tokens (only their SHA-256 digests are given to the servers),
waits until each announces its port, and writes `stack.json` so that `nasforge search`
finds it. Transport as in compose: TLS on search_core's public port, mutual TLS between
the services, with a development CA in `<directory>/certs` (rpc.certs; kept across starts);
`LocalStack(plaintext=True)` serves plaintext everywhere (tests that need it). `stop()`
sends SIGTERM to all of them (search_core first, so that its searches stop cleanly and
resume at the next start).
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from argparse import ArgumentParser, Namespace
from dataclasses import dataclass, field
from pathlib import Path

from cli.secrets import SEARCH_CORE_PRINCIPAL, write_token_table
from rpc.certs import (
    CLIENTS,
    SEARCH_CORE_CLIENT,
    ca_file,
    client_files,
    server_files,
    write_dev_certificates,
)
from rpc.client import ClientTLS
from rpc.tenants import new_token

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO_ROOT / "var" / "stack"
READY_TIMEOUT_SECONDS = 120.0
# An NN-Caption prompt (a baseline and 5 zoo classifiers) is about 6,500 tokens.
CONTEXT_TOKENS = 12288
PR_SET_PDEATHSIG = 1
CLI_CLIENT = "nasforge-cli"  # the client certificate of tests and `nasforge` commands


class StackError(RuntimeError):
    """A service of the local stack did not start; the message carries its log's tail."""


@dataclass
class StackProcess:
    name: str
    process: subprocess.Popen
    port: int
    log_path: Path


@dataclass
class LocalStack:
    """The services of one local deployment; `start()` then `stop()`."""

    directory: Path = DEFAULT_DIR
    model: str = "qwen2.5-coder-0.5b"
    llm_threads: int = 2
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
        tokens = self.directory / "tokens.json"
        write_token_table(
            tokens, {self.tenant: self.tenant_token}, {SEARCH_CORE_PRINCIPAL: service_token}
        )
        service_token_file = self.directory / "service-token"
        service_token_file.write_text(service_token)
        service_token_file.chmod(0o600)
        common = {"AUTH_TOKENS_FILE": str(tokens), "HOST": "127.0.0.1"}
        if not self.plaintext:
            write_dev_certificates(self.certs_directory, clients=(*CLIENTS, CLI_CLIENT))
        index = str(REPO_ROOT / "var" / "torch_index.json")
        try:
            models = []
            if with_llm:
                if not self.model_path.is_file():
                    raise StackError(f"{self.model_path} is missing: run `make llm` first")
                self._start(
                    "embedded",
                    ["-m", "llm_gateway.embedded"],
                    "NASFORGE_EMBEDDED_",
                    {
                        "PORT": "0",
                        "MODEL_PATH": str(self.model_path),
                        "MODEL_ID": self.model,
                        "THREADS": str(self.llm_threads),
                        "MAX_TOTAL_TOKENS": str(CONTEXT_TOKENS),
                        "MAX_INPUT_TOKENS": str(CONTEXT_TOKENS - 1024),
                        "MAX_CONCURRENT_REQUESTS": "1",
                    },
                    "embedded model server listening on port",
                )
                models = [
                    {
                        "name": self.model,
                        "backend": "embedded",
                        "url": f"http://127.0.0.1:{self.processes['embedded'].port}",
                        "max_total_tokens": CONTEXT_TOKENS,
                        "default_max_new_tokens": 1024,
                        "max_new_tokens_limit": 2048,
                        "timeout_seconds": 900,
                        "max_concurrent_requests": 1,
                    }
                ]
            self._start(
                "llm_gateway",
                ["-m", "llm_gateway"],
                "NASFORGE_GATEWAY_",
                {
                    **common,
                    **self._transport_env("llm_gateway"),
                    "PORT": _free_port(),
                    "MODELS": json.dumps(models),
                    "NAME_INDEX_PATH": index,
                },
                "llm_gateway listening on port",
            )
            self._start(
                "sandbox_runner",
                ["-m", "sandbox_runner"],
                "NASFORGE_SANDBOX_",
                {
                    **common,
                    **self._transport_env("sandbox_runner"),
                    "PORT": _free_port(),
                    "NAMESPACE": f"{self.namespace}-sandbox",
                    "NAME_INDEX_PATH": index,
                    "POOL_SIZE": "1",
                },
                "sandbox_runner listening on port",
            )
            self._start(
                "trainer_svc",
                ["-m", "trainer_svc"],
                "NASFORGE_TRAINER_",
                {
                    **common,
                    **self._transport_env("trainer_svc"),
                    "PORT": _free_port(),
                    "NAMESPACE": f"{self.namespace}-trainer",
                },
                "trainer_svc listening on port",
            )
            self._start(
                "search_core",
                ["-m", "search_core"],
                "NASFORGE_SEARCH_",
                {
                    **common,
                    **self._transport_env("search_core"),
                    "PORT": _free_port(),
                    "STORE_URL": self.store_url or str(self.directory / "nasforge.db"),
                    "GATEWAY_TARGET": self.target("llm_gateway"),
                    "SANDBOX_TARGET": self.target("sandbox_runner"),
                    "TRAINER_TARGET": self.target("trainer_svc"),
                    "SERVICE_TOKEN_FILE": str(service_token_file),
                    "METRICS_TENANTS": json.dumps([self.tenant]),
                    "METRICS_MODELS": json.dumps([self.model]),
                    "DEFAULT_MODEL": self.model,
                },
                "search_core listening on port",
            )
        except BaseException:
            self.stop()
            raise
        self._write_description()
        return self

    def restart(self, service: str) -> None:
        """Stop one service (if it still runs) and start it again on the same port."""
        stopped = self.processes.pop(service)
        _terminate(stopped.process)
        args, prefix, env, ready = stopped.process.nasforge_launch
        self._start(service, args, prefix, env, ready)
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
        for name in ["search_core", "trainer_svc", "sandbox_runner", "llm_gateway", "embedded"]:
            if name in self.processes:
                codes[name] = _terminate(self.processes.pop(name).process)
        if stopped_containers:
            self.leftovers_removed = self._reap_leftovers()
        return codes

    def _reap_leftovers(self) -> int:
        """Remove what the services left of their containers and volumes; how many."""
        from sandbox_runner.containers import Launcher, docker_client  # docker only if used

        removed = 0
        try:
            client = docker_client(ping=False)
            for role in ("sandbox", "trainer"):
                removed += Launcher(client, f"{self.namespace}-{role}").reap(expired_only=False)
        except Exception as exc:  # the engine may be gone; the services' reapers remain
            print(f"nasforge stack: could not sweep leftover containers: {exc}", file=sys.stderr)
        return removed

    def manage_tenants(self, *args: str) -> str:
        """Run `nasforge tenant --file <stack>/tokens.json ARGS` as an operator would (the
        services pick the change up within a second or two); its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "cli", "tenant", "--file", str(self.directory / "tokens.json"),
             *args],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise StackError(f"nasforge tenant {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

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
            self._wait_until_accepted(token)
        return fields["token id"].strip(), token

    def _wait_until_accepted(self, token: str, seconds: float = 15.0) -> None:
        """Until a call with ``token`` gets past authentication (NOT_FOUND for a search
        that does not exist). A blocking channel: callers may be in any event loop or none."""
        import grpc

        from nasforge.search_core.v1 import search_core_pb2 as pb
        from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc

        tls = self.public_tls
        channel = (
            grpc.secure_channel(
                self.target("search_core"), grpc.ssl_channel_credentials(tls.ca_file.read_bytes())
            )
            if tls is not None
            else grpc.insecure_channel(self.target("search_core"))
        )
        deadline = time.monotonic() + seconds
        with channel:
            probe = pb_grpc.SearchServiceStub(channel)
            while True:
                try:
                    probe.GetSearch(
                        pb.GetSearchRequest(search_id="s-none"),
                        metadata=(("authorization", f"Bearer {token}"),),
                        timeout=10,
                    )
                except grpc.RpcError as exc:
                    if exc.code() == grpc.StatusCode.NOT_FOUND:
                        return
                    if time.monotonic() > deadline:
                        raise StackError(f"new token not accepted: {exc.code().name}") from exc
                time.sleep(0.2)

    def log_tail(self, service: str, chars: int = 3000) -> str:
        return self.processes[service].log_path.read_text(errors="replace")[-chars:]

    def _transport_env(self, service: str) -> dict[str, str]:
        """The TLS settings of a service: mutual TLS for the internal ones; for search_core
        server TLS (its clients need only the CA) and its client certificate for its calls."""
        if self.plaintext:
            return {"PLAINTEXT": "true"}
        certs = self.certs_directory
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

    def _start(self, name: str, args: list[str], prefix: str, env: dict[str, str], ready: str):
        log_path = self.directory / f"{name}.log"
        log = log_path.open("a")
        environment = {**os.environ, **{prefix + k: v for k, v in env.items()}}
        environment.update(self.extra_env.get(name, {}))
        process = subprocess.Popen(
            [sys.executable, *args],
            preexec_fn=_die_with_parent,
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        process.nasforge_launch = (args, prefix, env, ready)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        line = ""
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith(ready) or not line:
                break
        if not line.startswith(ready):
            process.kill()
            process.wait(10)
            tail = log_path.read_text(errors="replace")[-3000:]
            raise StackError(f"{name} did not start (log {log_path}):\n{tail}")
        self.processes[name] = StackProcess(name, process, int(line.rsplit(" ", 1)[1]), log_path)

    def _write_description(self) -> None:
        description = self.directory / "stack.json"
        tls = self.internal_tls
        description.write_text(
            json.dumps(
                {
                    "search_core": self.target("search_core"),
                    "llm_gateway": self.target("llm_gateway"),
                    "tenant": self.tenant,
                    "token": self.tenant_token,
                    "tls": None
                    if self.plaintext
                    else {
                        "ca_file": str(tls.ca_file),
                        "cert_file": str(tls.cert_file),
                        "key_file": str(tls.key_file),
                    },
                    "pids": {n: p.process.pid for n, p in self.processes.items()},
                },
                indent=2,
            )
        )
        description.chmod(0o600)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the process that started the stack dies,
    even by SIGKILL, so that no service (and none of its containers) outlives it."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> str:
    """A loopback port free now; services keep theirs across restarts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def _terminate(process: subprocess.Popen) -> int:
    if process.poll() is not None:
        return process.returncode
    process.terminate()
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(10)


def read_description(directory: Path = DEFAULT_DIR) -> dict:
    """The target and token of the running local stack (written by LocalStack.start)."""
    path = directory / "stack.json"
    if not path.is_file():
        raise StackError(f"no local stack is running ({path} is missing): start one first")
    return json.loads(path.read_text())


def add_tls_arguments(parser: ArgumentParser, *, client_certificate: bool) -> None:
    """--ca-file (and --cert-file/--key-file) for an address given with --target."""
    parser.add_argument("--ca-file", type=Path, help="CA of the server's certificate (TLS)")
    if client_certificate:
        parser.add_argument("--cert-file", type=Path, help="client certificate (mutual TLS)")
        parser.add_argument("--key-file", type=Path, help="private key of --cert-file")
    parser.add_argument(
        "--plaintext", action="store_true", help="no TLS (local development servers only)"
    )


def tls_from_args(args: Namespace) -> ClientTLS | None:
    if args.ca_file is None:
        return None
    return ClientTLS(
        args.ca_file, getattr(args, "cert_file", None), getattr(args, "key_file", None)
    )


def connection(
    service: str,
    target: str | None,
    token_file: Path | None,
    *,
    tls: ClientTLS | None = None,
    plaintext: bool = False,
) -> tuple[str, str, ClientTLS | None]:
    """(address, token, TLS) of a service: the ones given, else the running local stack's.

    A given address needs ``tls`` unless ``plaintext`` says explicitly that it has none.
    """
    if target:
        if not token_file:
            raise StackError(f"an address for {service} needs --token-file")
        if tls is None and not plaintext:
            raise StackError(
                f"an address for {service} needs --ca-file (or --plaintext for a local "
                "development server)"
            )
        return target, token_file.read_text().strip(), tls
    description = read_description()
    token = token_file.read_text().strip() if token_file else description["token"]
    files = description.get("tls")
    if files is None:
        stack_tls = None
    elif service == "search_core":  # the public port asks for no client certificate
        stack_tls = ClientTLS(Path(files["ca_file"]))
    else:
        stack_tls = ClientTLS(
            Path(files["ca_file"]), Path(files["cert_file"]), Path(files["key_file"])
        )
    return description[service], token, stack_tls
