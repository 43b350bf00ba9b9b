"""The container launcher: single-use, locked-down containers with one stdin/stdout channel.

Shared by sandbox_runner (checks) and trainer_svc (training). Every container is created with
the full lock-down (non-root, no network, no capabilities, no-new-privileges, read-only root,
a size-capped tmpfs owned by the user, sized /dev/shm, memory = memory+swap, CPU quota with
thread counts pinned to it, pids, nofile and core limits, an init as PID 1, capped logs,
labels (the tenant's among them), an allowlisted environment) and no host path, under
gVisor (runtime ``runsc``) where the engine has it, else runc (``choose_runtime``). Output
is read from the attach stream, demultiplexed, capped; deadlines are enforced by killing
the container.
"""

import logging
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

import docker
import docker.errors
import requests
from docker.types import LogConfig, Mount, Ulimit

from rpc.errors import Unavailable

log = logging.getLogger(__name__)

LABEL_PREFIX = "org.nasforge"
MANAGED_BY = f"{LABEL_PREFIX}.managed-by"
EXPIRES = f"{LABEL_PREFIX}.expires"
TENANT = f"{LABEL_PREFIX}.tenant"  # whose check or training a container (or volume) runs
CONTAINER_USER = "10001:10001"

# Environment variables a container may receive; anything else is refused.
ALLOWED_ENVIRONMENT = frozenset(
    {
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "TORCH_NUM_THREADS",
        "NASFORGE_DEVICE",
        "NASFORGE_EPOCHS",
        "NASFORGE_SEED",
    }
)

# Container runtimes a launcher may use: gVisor's runsc (a user-space kernel between the
# candidate and the host's) where the engine has it, runc (namespaces and seccomp only)
# as the fallback. "auto" picks runsc when the engine lists it.
RUNTIMES = ("runsc", "runc")
RuntimeSetting = Literal["auto", "runsc", "runc"]

_STDOUT, _STDERR = 1, 2
_STDERR_TAIL_BYTES = 4096


class InfraError(Unavailable):
    """The container machinery failed (engine down, image missing): not the candidate's fault."""


class RuntimeUnavailable(InfraError):
    """The runtime asked for explicitly (runsc) is not one the engine has: a set-up error."""


class DeadlineExceeded(TimeoutError):
    """The container did not answer in time."""


class OutputFlood(RuntimeError):
    """The container wrote more than the output cap."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one container."""

    memory_bytes: int = 2 * 1024**3
    cpus: float = 1.0
    pids: int = 128
    tmpfs_bytes: int = 64 * 1024**2
    tmpfs_inodes: int = 16_384
    shm_bytes: int = 64 * 1024**2
    nofile: int = 256
    log_bytes: int = 1024**2

    @property
    def threads(self) -> str:
        return str(max(1, int(self.cpus)))


@dataclass(frozen=True)
class ContainerSpec:
    """What to run and with which limits, labels and environment."""

    image: str
    role: str  # "check" or "train"
    limits: Limits
    lifetime_seconds: float  # the reaper removes the container after this
    labels: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None  # None: the image's (the check harness)
    mounts: tuple[Mount, ...] = ()
    gpu: bool = False
    tenant: str | None = None  # set for every check and training: becomes the TENANT label
    output_cap_bytes: int | None = None  # stdout + stderr allowed; None: the launcher's cap

    def __post_init__(self) -> None:
        refused = set(self.environment) - ALLOWED_ENVIRONMENT
        if refused:
            raise ValueError(f"environment variables not allowed in a container: {refused}")
        for mount in self.mounts:
            if mount["Type"] == "bind" and not mount.get("ReadOnly"):
                raise ValueError("host paths may only be mounted read-only")


def docker_client(timeout_seconds: float = 30.0, *, ping: bool = True) -> docker.DockerClient:
    """A client of the local engine; InfraError when none answers (and ``ping`` is asked)."""
    try:
        client = docker.from_env(timeout=int(timeout_seconds))
        if ping:
            client.ping()
    except docker.errors.DockerException as exc:
        raise InfraError(f"Docker engine unavailable: {exc}") from exc
    return client


def engine_runtimes(client: docker.DockerClient) -> frozenset[str] | None:
    """The runtimes the engine lists in ``docker info``; None when it will not say (a proxy
    that refuses /info). InfraError when no engine answers."""
    try:
        return frozenset(client.api.info().get("Runtimes") or {})
    except docker.errors.APIError:
        return None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise InfraError(f"Docker engine unavailable: {exc}") from exc


def choose_runtime(setting: RuntimeSetting, listed: frozenset[str] | None) -> str:
    """The runtime for ``setting`` on an engine that lists ``listed`` (None: unknown, in
    which case "auto" tries runsc and the launcher falls back at the first create)."""
    if setting == "runsc" and listed is not None and "runsc" not in listed:
        raise RuntimeUnavailable(
            "runtime runsc (gVisor) was asked for, but the Docker engine lists only "
            f"{', '.join(sorted(listed)) or 'none'}: install it with `make docker` "
            "(scripts/ensure_gvisor.sh), or set the runtime to auto or runc"
        )
    if setting != "auto":
        return setting
    return "runsc" if listed is None or "runsc" in listed else "runc"


def _unknown_runtime(exc: docker.errors.DockerException) -> bool:
    return isinstance(exc, docker.errors.APIError) and "unknown runtime" in str(exc).lower()


class AttachedContainer:
    """A started container and its attached stdin/stdout stream. Use once, then destroy()."""

    def __init__(
        self,
        client: docker.DockerClient,
        container_id: str,
        sock: socket.socket,
        output_cap_bytes: int,
    ) -> None:
        self.id = container_id
        self._client = client
        self._sock = sock
        self._cap = output_cap_bytes
        self._read_bytes = 0
        self._buffer = b""  # raw attach stream not yet demultiplexed
        self._stdout = b""  # stdout not yet returned as lines
        self.stderr_tail = b""
        self.started_at = time.monotonic()

    def send_line(self, line: bytes) -> None:
        self._sock.sendall(line)

    def _receive(self, deadline: float) -> bool:
        """Read more of the stream; False at end of stream."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded
        readable, _, _ = select.select([self._sock], [], [], remaining)
        if not readable:
            raise DeadlineExceeded
        chunk = self._sock.recv(65536)
        if not chunk:
            return False
        self._read_bytes += len(chunk)
        if self._read_bytes > self._cap:
            raise OutputFlood(f"container wrote more than {self._cap} bytes")
        self._buffer += chunk
        while len(self._buffer) >= 8:
            stream, size = struct.unpack(">BxxxL", self._buffer[:8])
            if len(self._buffer) < 8 + size:
                break
            payload, self._buffer = self._buffer[8 : 8 + size], self._buffer[8 + size :]
            if stream == _STDERR:
                self.stderr_tail = (self.stderr_tail + payload)[-_STDERR_TAIL_BYTES:]
            elif stream == _STDOUT:
                self._stdout += payload
        return True

    def read_line(self, deadline: float) -> bytes | None:
        """The next complete stdout line, or None when the container closed its output."""
        while b"\n" not in self._stdout:
            if not self._receive(deadline):
                rest, self._stdout = self._stdout, b""
                return rest or None
        line, self._stdout = self._stdout.split(b"\n", 1)
        return line

    def state(self) -> dict:
        """The engine's State of the container (Status, ExitCode, OOMKilled, ...)."""
        return self._client.api.inspect_container(self.id)["State"]

    def wait_exit(self, timeout_seconds: float) -> dict:
        """Wait for the container to stop (killing it at the timeout) and return its State."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            state = self.state()
            if not state.get("Running"):
                return state
            time.sleep(0.05)
        self.kill()
        return self.state()

    def _close_stream(self) -> None:
        # Closed before a kill: an engine blocked writing a flood into this socket would
        # otherwise not answer the kill until the client's timeout.
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._sock.close()
        except OSError:
            pass

    def kill(self) -> None:
        """SIGKILL the container; nothing is read from it afterwards."""
        self._close_stream()
        try:
            self._client.api.kill(self.id)
        except docker.errors.APIError:
            pass  # already stopped
        except requests.exceptions.RequestException as exc:
            raise InfraError(f"the engine did not kill container {self.id[:12]}: {exc}") from exc

    def destroy(self) -> None:
        """Kill and remove; never raises (the reaper catches what this misses)."""
        self._close_stream()
        try:
            self._client.api.remove_container(self.id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            log.warning("could not remove container %s: %s", self.id[:12], exc)


class Launcher:
    """Creates locked-down containers labelled with this launcher's namespace, and reaps them.

    ``runtime`` is the setting (auto, runsc, runc); the runtime it gives is chosen once, when
    the engine first answers (``resolve_runtime``, which services call at start-up so that an
    explicit runsc the engine lacks stops them there), and is then used for every container.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        namespace: str,
        output_cap_bytes: int = 1024**2,
        runtime: RuntimeSetting = "auto",
    ) -> None:
        if runtime not in ("auto", *RUNTIMES):
            raise ValueError(f"unknown container runtime {runtime!r}")
        self._client = client
        self.namespace = namespace
        self._cap = output_cap_bytes
        self.runtime_setting = runtime
        self._runtime: str | None = None
        self._runtime_checked = False  # by a create, where the engine would not list them
        self._runtime_lock = threading.Lock()

    @property
    def runtime(self) -> str | None:
        """The runtime containers run under (runsc or runc); None until resolved."""
        return self._runtime

    def resolve_runtime(self) -> str:
        """Choose the runtime from the setting and the engine's list (once), and log it.

        RuntimeUnavailable for an explicit runsc the engine lacks; InfraError when no engine
        answers (the next call tries again).
        """
        with self._runtime_lock:
            if self._runtime is None:
                listed = engine_runtimes(self._client)
                self._runtime = choose_runtime(self.runtime_setting, listed)
                self._runtime_checked = listed is not None
                if self._runtime == "runc" and self.runtime_setting == "auto":
                    log.warning(
                        "gVisor (runsc) is not a runtime of this Docker engine: candidate "
                        "containers of %s run under runc (install it with `make docker`)",
                        self.namespace,
                    )
                log.info(
                    "container runtime of %s: %s (setting %s)",
                    self.namespace,
                    self._runtime,
                    self.runtime_setting,
                )
            return self._runtime

    def runtime_for(self, spec: ContainerSpec) -> str:
        """The runtime of one container: the launcher's, except runc for a GPU job when the
        setting is auto (Debian's gVisor build has no GPU support)."""
        runtime = self.resolve_runtime()
        if spec.gpu and runtime == "runsc" and self.runtime_setting == "auto":
            return "runc"
        return runtime

    def _fall_back_to_runc(self, exc: docker.errors.DockerException) -> bool:
        """After a create refused for an unknown runtime: runc if the setting allows it."""
        with self._runtime_lock:
            self._runtime_checked = True
            if self.runtime_setting != "auto" or self._runtime != "runsc":
                return False
            self._runtime = "runc"
        log.warning(
            "the Docker engine does not know runtime runsc (%s): candidate containers of %s "
            "run under runc",
            exc,
            self.namespace,
        )
        return True

    def _host_config(self, spec: ContainerSpec) -> dict:
        limits = spec.limits
        tmpfs_options = (
            f"rw,size={limits.tmpfs_bytes},nr_inodes={limits.tmpfs_inodes},mode=0700,"
            "uid=10001,gid=10001,nosuid,nodev,noexec"
        )
        device_requests = (
            [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if spec.gpu else None
        )
        return self._client.api.create_host_config(
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            read_only=True,
            tmpfs={"/tmp": tmpfs_options},
            shm_size=limits.shm_bytes,
            mem_limit=limits.memory_bytes,
            memswap_limit=limits.memory_bytes,
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids,
            ulimits=[
                Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile),
                Ulimit(name="core", soft=0, hard=0),
            ],
            init=True,
            log_config=LogConfig(
                type=LogConfig.types.JSON,
                config={"max-size": str(limits.log_bytes), "max-file": "1"},
            ),
            mounts=list(spec.mounts),
            device_requests=device_requests,
            ipc_mode="private",
            runtime=self.runtime_for(spec),
        )

    def start(self, spec: ContainerSpec) -> AttachedContainer:
        """Create, attach and start a container; InfraError if the engine fails."""
        labels = {
            **spec.labels,
            MANAGED_BY: self.namespace,
            f"{LABEL_PREFIX}.role": spec.role,
            EXPIRES: str(int(time.time() + spec.lifetime_seconds)),
        }
        if spec.tenant is not None:
            labels[TENANT] = spec.tenant
        environment = {
            "OMP_NUM_THREADS": spec.limits.threads,
            "MKL_NUM_THREADS": spec.limits.threads,
            **spec.environment,
        }
        api = self._client.api
        container_id = None
        try:
            try:
                container_id = self._create(spec, environment, labels)
            except docker.errors.APIError as exc:
                if self._runtime_checked or not _unknown_runtime(exc):
                    raise
                if not self._fall_back_to_runc(exc):
                    raise RuntimeUnavailable(f"the engine refused runtime runsc: {exc}") from exc
                container_id = self._create(spec, environment, labels)
            raw = api.attach_socket(
                container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
            sock = getattr(raw, "_sock", raw)
            api.start(container_id)
        except docker.errors.DockerException as exc:
            if container_id is not None:
                try:
                    api.remove_container(container_id, force=True)
                except docker.errors.DockerException:
                    pass
            raise InfraError(f"could not start a container from {spec.image}: {exc}") from exc
        return AttachedContainer(
            self._client, container_id, sock, spec.output_cap_bytes or self._cap
        )

    def _create(self, spec: ContainerSpec, environment: dict, labels: dict) -> str:
        return self._client.api.create_container(
            spec.image,
            entrypoint=spec.entrypoint,
            user=CONTAINER_USER,
            environment=environment,
            labels=labels,
            stdin_open=True,
            detach=False,
            tty=False,
            network_disabled=True,
            hostname="sandbox",
            working_dir="/tmp",
            host_config=self._host_config(spec),
        )["Id"]

    def leftovers(self, *, expired_only: bool) -> list[str]:
        """Ids of this namespace's containers (only those past their lifetime if asked)."""
        found = self._client.api.containers(
            all=True, filters={"label": f"{MANAGED_BY}={self.namespace}"}
        )
        now = time.time()
        return [
            c["Id"] for c in found if not expired_only or float(c["Labels"].get(EXPIRES, 0)) < now
        ]

    def reap(self, *, expired_only: bool) -> int:
        """Remove leftovers; returns how many were removed."""
        removed = 0
        for container_id in self.leftovers(expired_only=expired_only):
            try:
                self._client.api.remove_container(container_id, force=True, v=True)
                removed += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.DockerException as exc:
                log.warning("reaper could not remove %s: %s", container_id[:12], exc)
        if not expired_only:  # volumes of training jobs carry no expiry: only a full sweep
            for volume in self._client.volumes.list(
                filters={"label": f"{MANAGED_BY}={self.namespace}"}
            ):
                try:
                    volume.remove(force=True)
                except docker.errors.DockerException as exc:
                    log.warning("reaper could not remove volume %s: %s", volume.name, exc)
        if removed:
            log.info("reaped %d leftover containers of %s", removed, self.namespace)
        return removed
