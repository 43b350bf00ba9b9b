"""Settings every service's server shares; each service subclasses this with its own env prefix."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TransportSecurityError(ValueError):
    """Settings with no transport security that do not say so, or with half of one."""


class ServerSettings(BaseSettings):
    """How a service listens and authenticates. Read once, in the service's main."""

    model_config = SettingsConfigDict(env_prefix="NASFORGE_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the gRPC server binds to.")
    port: int = Field(0, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_host: str = Field("127.0.0.1", description="Address of the /metrics HTTP server.")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Prometheus /metrics port; unset serves none."
    )
    max_message_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest request or response message."
    )
    keepalive_time_ms: int = Field(30_000, ge=1000, description="Server keepalive ping interval.")
    keepalive_timeout_ms: int = Field(10_000, ge=100, description="Keepalive ack timeout.")
    min_client_ping_interval_ms: int = Field(
        10_000, ge=1000, description="Clients pinging more often than this are disconnected."
    )
    max_concurrent_rpcs: int = Field(
        256,
        ge=1,
        description="Calls the server handles at once, of every service it serves, health "
        "checks included; an open stream (WatchSearch, a training's metrics) holds its place "
        "until it ends. Beyond it gRPC answers RESOURCE_EXHAUSTED at once.",
    )
    shutdown_grace_seconds: float = Field(
        10.0, ge=0, description="Time in-flight calls get to finish on SIGTERM/SIGINT."
    )
    auth_tokens_file: Path | None = Field(
        None, description="JSON token table (SHA-256 digests only); see rpc.auth."
    )
    allow_anonymous_tenant: str | None = Field(
        None,
        description="Local development only: admit calls without a token as this tenant.",
    )
    audit_log: Path | None = Field(
        None, description="Append-only, hash-chained audit log (JSON lines); unset: none."
    )
    tls_cert_file: Path | None = Field(
        None,
        description="PEM certificate chain of the server (its certificate first, then the "
        "CA's: the health check trusts the CAs it carries).",
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file.")
    tls_client_ca_file: Path | None = Field(
        None,
        description="Mutual TLS: every client must present a certificate signed by this CA.",
    )
    plaintext: bool = Field(
        False,
        description="Local development only: serve without TLS (instead of tls_cert_file).",
    )

    def env_name(self, field_name: str) -> str:
        """The environment variable of a field, e.g. NASFORGE_SEARCH_TLS_CERT_FILE."""
        return f"{self.model_config.get('env_prefix', '')}{field_name}".upper()

    def check_transport(self) -> None:
        """Refuse settings that give neither a certificate nor an explicit plaintext=true."""
        tls = ("tls_cert_file", "tls_key_file", "tls_client_ca_file")
        if self.plaintext:
            configured = [self.env_name(name) for name in tls if getattr(self, name)]
            if configured:
                raise TransportSecurityError(
                    f"{self.env_name('plaintext')}=true contradicts {', '.join(configured)}"
                )
            return
        if self.tls_cert_file is None and self.tls_key_file is None:
            raise TransportSecurityError(
                f"no transport security configured: set {self.env_name('tls_cert_file')} and "
                f"{self.env_name('tls_key_file')}, or {self.env_name('plaintext')}=true "
                "(local development only)"
            )
        if self.tls_cert_file is None or self.tls_key_file is None:
            raise TransportSecurityError(
                f"{self.env_name('tls_cert_file')} and {self.env_name('tls_key_file')} "
                "must be set together"
            )
