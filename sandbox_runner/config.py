"""Settings of sandbox_runner (env prefix NASFORGE_SANDBOX_), read once in main."""

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from rpc.quota_ledger import ledger_setting
from rpc.settings import ServerSettings
from sandbox_runner.containers import RuntimeSetting
from sandbox_runner.namespace import expand_namespace


class SandboxSettings(ServerSettings):
    """Container limits, pool and concurrency of the checker, plus the shared server settings."""

    model_config = SettingsConfigDict(
        env_prefix="NASFORGE_SANDBOX_", extra="ignore", populate_by_name=True
    )

    image: str = Field("nasforge-runtime:cpu", description="Runtime image of checks.")
    namespace: str = Field(
        "nasforge-sandbox",
        description="Label value that marks this runner's containers; {hostname} is "
        "replaced by this host's name, so that replicas do not reap each other's.",
    )
    runtime: RuntimeSetting = Field(
        "auto",
        description="Container runtime of checks: runsc (gVisor), runc, or auto (runsc when "
        "the Docker engine lists it, else runc with a warning). An explicit runsc the engine "
        "lacks stops the service at start-up.",
    )
    name_index_path: Path = Field(
        Path("var/torch_index.json"), description="Torch name index extracted from the image."
    )
    memory_bytes: int = Field(2 * 1024**3, ge=64 * 1024**2, description="Memory (= +swap).")
    cpus: float = Field(1.0, gt=0, le=64, description="CPU quota; thread counts follow it.")
    pids_limit: int = Field(128, ge=16)
    tmpfs_bytes: int = Field(64 * 1024**2, ge=1024**2, description="Writable /tmp size.")
    shm_bytes: int = Field(64 * 1024**2, ge=1024**2, description="/dev/shm size.")
    output_cap_bytes: int = Field(1024**2, ge=64 * 1024, description="stdout+stderr cap.")
    timeout_seconds: float = Field(30.0, gt=0, description="Default time limit of a check.")
    max_timeout_seconds: float = Field(300.0, gt=0, description="Largest limit a caller may ask.")
    ready_timeout_seconds: float = Field(60.0, gt=0, description="Cold start + torch import.")
    parameter_budget: int = Field(
        50_000_000,
        ge=1,
        description="Most parameters a candidate may have (more is too_large) when the caller "
        "sends no budget; a search sends its own parameter_budget, `nasforge sandbox check` "
        "its --parameter-budget.",
    )
    pool_size: int = Field(
        2, ge=0, le=64, description="Warm containers kept ready, all tenants together."
    )
    pool_per_tenant: int = Field(
        2,
        ge=1,
        le=64,
        description="Warm containers kept for each tenant that checks (its share of "
        "pool_size when several do).",
    )
    pool_max_idle_seconds: float = Field(600.0, gt=0, description="Recycle idle warm ones.")
    max_concurrent_checks: int = Field(
        2, ge=1, description="Containers checking at once (on this replica)."
    )
    per_tenant_concurrency: int = Field(
        2,
        ge=1,
        description="Checks in flight per tenant (queued or running) when the tenant "
        "registry sets no concurrent_checks; one more is refused with RESOURCE_EXHAUSTED. "
        "Counted in the quota ledger: across every replica on a shared one.",
    )
    quota_ledger: str = ledger_setting(
        "The shared quota ledger (env NASFORGE_QUOTA_LEDGER, as for every service) that "
        "counts each tenant's checks in flight: postgresql://... for replicas on any host, "
        "sqlite:///<path> or a path for one host. Unset: this process alone, in memory."
    )
    max_queued_checks: int = Field(64, ge=0, description="Waiting checks before refusing.")
    docker_timeout_seconds: float = Field(30.0, gt=0, description="Docker API call timeout.")
    reap_interval_seconds: float = Field(60.0, gt=0, description="Leftover sweep period.")
    extra_allowed_modules: list[str] = Field(
        default_factory=list, description="Widen the import allowlist."
    )

    @field_validator("namespace")
    @classmethod
    def _expand_namespace(cls, value: str) -> str:
        return expand_namespace(value)
