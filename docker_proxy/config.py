"""Settings of docker_proxy (env prefix NASFORGE_DOCKER_PROXY_), read once in main."""

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

HEX = "{hex}"  # in a volume rule: a job id, 8 to 64 lower-case hex digits
HOSTNAME = "{hostname}"  # in the namespace: one host name label (sandbox_runner.namespace)
_HEX_PATTERN = r"[0-9a-f]{8,64}"
_HOSTNAME_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_API_VERSION = re.compile(r"1\.(?:0|[1-9][0-9]{0,2})")


def _template(text: str, placeholder: str, pattern: str, what: str) -> re.Pattern:
    """A fixed pattern: ``text`` literally, with ``placeholder`` standing for ``pattern``."""
    if not _NAME.fullmatch(text.replace(placeholder, "x")):
        raise ValueError(f"{what} {text!r} is not a name (letters, digits, '_', '.', '-')")
    return re.compile(pattern.join(re.escape(part) for part in text.split(placeholder)))


@dataclass(frozen=True)
class VolumeRule:
    """Named volumes called exactly ``name``, where ``{hex}`` stands for a job id.

    ``writable`` rules name per-job volumes: they may be mounted writable, and only by the
    namespace that created them. The others name shared data, mounted read-only only.
    """

    name: str
    writable: bool

    @classmethod
    def parse(cls, text: str) -> "VolumeRule":
        name, _, mode = text.partition(":")
        if mode not in ("", "ro", "rw"):
            raise ValueError(f"volume rule {text!r} is not NAME, NAME:ro or NAME:rw")
        _template(name, HEX, _HEX_PATTERN, "volume rule")
        return cls(name, mode == "rw")

    def matches(self, name: object) -> bool:
        pattern = _template(self.name, HEX, _HEX_PATTERN, "volume rule")
        return isinstance(name, str) and pattern.fullmatch(name) is not None


@dataclass(frozen=True)
class Namespace:
    """The one label namespace a proxy serves: the client's own template, `{hostname}` included.

    A managed-by label belongs to it when it is the template with `{hostname}` replaced by
    one host name label (a compose container id, a Kubernetes pod name): a fixed pattern,
    never a bare prefix.
    """

    template: str

    def __post_init__(self) -> None:
        _template(self.template, HOSTNAME, _HOSTNAME_PATTERN, "namespace")

    def matches(self, value: object) -> bool:
        pattern = _template(self.template, HOSTNAME, _HOSTNAME_PATTERN, "namespace")
        return isinstance(value, str) and pattern.fullmatch(value) is not None


def api_version(text: str) -> tuple[int, int]:
    """(1, minor) of an API version "1.NN" as written in a path; ValueError otherwise."""
    if not _API_VERSION.fullmatch(text):
        raise ValueError(f"API version {text!r} is not 1.NN")
    return 1, int(text.partition(".")[2])


class ProxySettings(BaseSettings):
    """Where the proxy listens, which engine it guards, and what it lets through."""

    model_config = SettingsConfigDict(env_prefix="NASFORGE_DOCKER_PROXY_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the proxy binds to.")
    port: int = Field(2375, ge=0, le=65535, description="Proxy port; 0 picks a free one.")
    metrics_host: str = Field("127.0.0.1", description="Address of the /metrics HTTP server.")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Prometheus /metrics port; unset serves none."
    )
    docker_socket: Path = Field(
        Path("/var/run/docker.sock"), description="Unix socket of the guarded Docker engine."
    )
    namespace: str = Field(
        description="The label namespace of the one service this proxy serves, as that "
        'service writes it (e.g. "nasforge-compose-trainer-{hostname}"): creates must carry '
        "it as managed-by label, and only its containers and volumes may be touched or "
        "listed. Required: one proxy (one listener) per client service."
    )
    images: list[str] = Field(
        default_factory=lambda: ["nasforge-runtime:cpu"],
        description="Images containers may be created from, exact references, e.g. "
        '\'["nasforge-runtime:cpu", "nasforge-runtime:gpu"]\'.',
    )
    volumes: list[str] = Field(
        default_factory=lambda: ["nasforge-out-{hex}:rw", "nasforge-prepared"],
        description="Named volumes that may be created and mounted, as JSON list of "
        '"NAME" (shared, mounted read-only only) or "NAME:rw" (per job: mounted writable, '
        "by its own namespace only). NAME matches exactly; {hex} in it stands for 8-64 "
        "lower-case hex digits. Empty: no volumes at all.",
    )
    runtimes: list[str] = Field(
        default_factory=lambda: ["runc", "runsc"],
        description="OCI runtimes a create may name in HostConfig.Runtime (none named: the "
        "engine's default).",
    )
    network_modes: list[str] = Field(
        default_factory=lambda: ["none"],
        description='HostConfig.NetworkMode values allowed; "host" and "container:..." never.',
    )
    min_api_version: str = Field(
        "1.41",
        description="Oldest Docker API version (/v1.NN/ path prefix) forwarded. docker-py 7 "
        "negotiates the engine's own (1.41 for Docker 20.10); older versions make the engine "
        "read bodies (a HostConfig at start) the proxy does not expect. Unversioned paths "
        "are the engine's current version and pass.",
    )
    allow_gpus: bool = Field(False, description="Let containers request GPUs (DeviceRequests).")
    max_head_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest request line + headers (and response head)."
    )
    max_body_bytes: int = Field(1024**2, ge=1024, description="Largest request body.")
    request_timeout_seconds: float = Field(
        30.0, gt=0, description="Time a client has to send its whole request."
    )
    log_level: str = Field("INFO", description="Logging level; DEBUG logs every allowed call.")
    shutdown_grace_seconds: float = Field(
        10.0, ge=0, description="Time open requests and streams get to finish on SIGTERM/SIGINT."
    )

    @field_validator("volumes")
    @classmethod
    def _valid_volume_rules(cls, value: list[str]) -> list[str]:
        for text in value:
            VolumeRule.parse(text)
        return value

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str) -> str:
        Namespace(value)
        return value

    @field_validator("network_modes")
    @classmethod
    def _no_shared_network(cls, value: list[str]) -> list[str]:
        for mode in value:
            if mode in ("", "host", "default") or mode.startswith("container:"):
                raise ValueError(f"network mode {mode!r} may not be allowed")
        return value

    @field_validator("min_api_version")
    @classmethod
    def _valid_api_version(cls, value: str) -> str:
        api_version(value)
        return value

    @property
    def volume_rules(self) -> tuple[VolumeRule, ...]:
        return tuple(VolumeRule.parse(text) for text in self.volumes)
