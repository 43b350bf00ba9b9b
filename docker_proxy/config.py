"""Settings of docker_proxy (env prefix NASFORGE_DOCKER_PROXY_), read once in main."""

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_VOLUME_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class VolumeRule:
    """Named volumes whose name starts with ``prefix`` may be created and mounted."""

    prefix: str
    writable: bool

    @classmethod
    def parse(cls, text: str) -> "VolumeRule":
        prefix, _, mode = text.partition(":")
        if mode not in ("", "ro", "rw") or not _VOLUME_PREFIX.fullmatch(prefix):
            raise ValueError(f"volume rule {text!r} is not PREFIX, PREFIX:ro or PREFIX:rw")
        return cls(prefix, mode == "rw")

    def matches(self, name: str) -> bool:
        return name.startswith(self.prefix)


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
    images: list[str] = Field(
        default_factory=lambda: ["nasforge-runtime:cpu"],
        description="Images containers may be created from, exact references, e.g. "
        '\'["nasforge-runtime:cpu", "nasforge-runtime:gpu"]\'.',
    )
    volumes: list[str] = Field(
        default_factory=lambda: ["nasforge-out-:rw", "nasforge-prepared"],
        description="Named volumes that may be created and mounted, as JSON list of "
        '"PREFIX" (mounted read-only only) or "PREFIX:rw" (may be mounted writable); a '
        "volume matches when its name starts with PREFIX.",
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

    @property
    def volume_rules(self) -> tuple[VolumeRule, ...]:
        return tuple(VolumeRule.parse(text) for text in self.volumes)
