"""Settings of search_core (env prefix NASFORGE_SEARCH_), read once in main."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from rpc.client import ClientTLS
from rpc.settings import ServerSettings, TransportSecurityError


class SearchCoreSettings(ServerSettings):
    """Where the store and the dependencies are, and how much runs at once."""

    model_config = SettingsConfigDict(env_prefix="NASFORGE_SEARCH_", extra="ignore")

    store_url: str = Field("var/nasforge.db", description="SQLite path or postgresql:// URL.")
    store_pool_size: int = Field(
        8,
        ge=1,
        description="PostgreSQL: connections the store keeps at most, so store calls that run "
        "at once (more wait for one). SQLite always uses one.",
    )
    store_timeout_s: float = Field(
        10.0,
        gt=0,
        description="PostgreSQL: how long a store call waits for a connection (also the "
        "connect timeout) before it fails as unavailable.",
    )
    gateway_target: str = Field("127.0.0.1:50051", description="llm_gateway address.")
    sandbox_target: str = Field("127.0.0.1:50052", description="sandbox_runner address.")
    trainer_target: str = Field(
        "127.0.0.1:50053",
        description="trainer_svc address; a dns:/// name spreads jobs over its replicas.",
    )
    default_model: str = Field(
        "qwen2.5-coder-0.5b", description="Gateway model of searches whose config names none."
    )
    service_token_file: Path | None = Field(
        None, description="File holding the token search_core presents to the other services."
    )
    client_ca_file: Path | None = Field(
        None,
        description="TLS to the three services: the CA that signed their certificates "
        "(unset: plaintext, allowed only with plaintext=true).",
    )
    client_cert_file: Path | None = Field(
        None, description="Certificate (chain) search_core presents to them (mutual TLS)."
    )
    client_key_file: Path | None = Field(None, description="Private key of client_cert_file.")
    call_timeout_seconds: float = Field(600.0, gt=0, description="Deadline of each call.")
    max_generations: int = Field(1, ge=1, description="LLM generations at once (all searches).")
    max_checks: int = Field(2, ge=1, description="Sandbox checks at once (all searches).")
    max_checks_per_tenant: int | None = Field(
        None,
        ge=1,
        description="Sandbox checks at once of one tenant, unless its registry quota "
        "(concurrent_checks) says otherwise; unset: all of max_checks. Below max_checks, "
        "another tenant's check finds a free slot instead of waiting behind a flood.",
    )
    max_trainings: int = Field(1, ge=1, description="Training jobs at once (all searches).")
    separate_llm_and_training: bool = Field(
        True,
        description="Never generate while a job trains: llama.cpp threads spin and slow to "
        "1-2 tokens/s when they share the CPU with training.",
    )
    cpu_slice_seconds: float = Field(
        60.0,
        gt=0,
        description="How long generation or training keeps the CPU while the "
        "other waits (with separate_llm_and_training).",
    )
    max_in_flight_per_search: int = Field(4, ge=1, description="Candidates under way per search.")
    max_running_searches: int = Field(
        8, ge=1, description="Searches running at once (all tenants); the rest wait, queued."
    )
    max_running_searches_per_tenant: int = Field(
        4,
        ge=0,
        description="Searches a tenant may have queued, running or paused; a SubmitSearch "
        "beyond it is refused. The registry's running_searches quota overrides it.",
    )
    retry_backoff_max_seconds: float = Field(30.0, gt=0)
    replica_id: str = Field(
        "",
        description="This replica's name on the search leases it holds (a pod name); empty: "
        "host, process id and a random suffix, new at every start.",
    )
    lease_seconds: float = Field(
        15.0,
        gt=0,
        description="How long a replica holds a search without renewing its lease: a replica "
        "that dies loses its searches after this, and another takes them over within about "
        "4/3 of it (leases are renewed every third of it).",
    )
    metrics_tenants: list[str] = Field(default_factory=list, description="Tenant label values.")
    metrics_models: list[str] = Field(
        default_factory=lambda: ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"],
        description="Model label values; other models count as 'other'.",
    )
    metrics_prompt_variants: list[str] = Field(default_factory=lambda: ["v1"])

    def dependency_tls(self) -> ClientTLS | None:
        """How search_core reaches the three services: TLS with client_ca_file (mutual with
        client_cert_file), plaintext only when the settings say plaintext=true."""
        if self.client_ca_file is None:
            if not self.plaintext:
                raise TransportSecurityError(
                    f"no transport security configured for the calls to the other services: "
                    f"set {self.env_name('client_ca_file')} (and "
                    f"{self.env_name('client_cert_file')}, {self.env_name('client_key_file')} "
                    f"for mutual TLS), or {self.env_name('plaintext')}=true "
                    "(local development only)"
                )
            return None
        try:
            return ClientTLS(self.client_ca_file, self.client_cert_file, self.client_key_file)
        except ValueError as exc:
            raise TransportSecurityError(
                f"{self.env_name('client_cert_file')} and {self.env_name('client_key_file')} "
                "must be set together"
            ) from exc
