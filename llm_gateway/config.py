"""Settings of llm_gateway (env prefix NASFORGE_GATEWAY_), read once in main."""

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from rpc.auth import is_valid_tenant_name
from rpc.quota_ledger import ledger_setting
from rpc.settings import ServerSettings

RecordMode = Literal["off", "record", "replay", "record-missing"]
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class ModelConfig(BaseModel):
    """One model the gateway serves, and how to reach it."""

    name: str = Field(description="Name callers use, e.g. 'qwen2.5-coder-1.5b'.")
    backend: Literal["tgi", "openai", "embedded"] = Field(
        description="tgi: a TGI server; embedded: our TGI-protocol server (same client); "
        "openai: an OpenAI-compatible chat-completions server."
    )
    url: str = Field(description="Base URL of the server, e.g. http://127.0.0.1:8090.")
    upstream_model: str = Field("", description="Model name sent to OpenAI-compatible servers.")
    chat_template: Literal["chatml", "deepseek-r1", "server"] = Field(
        "chatml", description="How the gateway renders a conversation for TGI servers."
    )
    api_key_file: Path | None = Field(None, description="Bearer token for the upstream, if any.")
    max_total_tokens: int = Field(4096, ge=16, description="Largest prompt + answer, in tokens.")
    default_max_new_tokens: int = Field(512, ge=1)
    max_new_tokens_limit: int = Field(2048, ge=1)
    timeout_seconds: float = Field(
        300.0, gt=0, description="Longest upstream call (the TGI client's own default is 10 s)."
    )
    max_concurrent_requests: int = Field(16, ge=1, description="Upstream calls at once.")
    max_queued_requests: int = Field(256, ge=0, description="Calls waiting for a slot.")
    supports_constraints: bool = Field(True, description="Whether grammars may be sent.")
    constrain_code: bool = Field(
        False,
        description="Constrain net_code answers to one fenced Python block and nothing else "
        "(extraction.CODE_BLOCK_REGEX), when the request brings no constraint of its own. For "
        "non-reasoning code models only: the grammar forces the fence from the first token, so "
        "a reasoning model (DeepSeek-R1) would lose its <think> section.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _MODEL_NAME.match(value):
            raise ValueError(f"model name {value!r} must be a short lower-case slug")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"url {value!r} must be http(s)://host[:port][/path]")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> "ModelConfig":
        if self.default_max_new_tokens > self.max_new_tokens_limit:
            raise ValueError("default_max_new_tokens is over max_new_tokens_limit")
        if self.max_new_tokens_limit >= self.max_total_tokens:
            raise ValueError("max_new_tokens_limit must leave room for a prompt")
        if self.constrain_code and (self.backend == "openai" or not self.supports_constraints):
            raise ValueError("constrain_code needs a backend that takes regex grammars")
        if self.constrain_code and self.chat_template == "deepseek-r1":
            raise ValueError("constrain_code would cut a reasoning model's <think> section")
        if self.backend == "openai":
            self.chat_template = "server"
        elif self.chat_template == "server":
            raise ValueError("TGI servers need a chat template the gateway renders")
        return self


class TenantLimits(BaseModel):
    """A tenant's request rate (a token bucket) and daily token quota."""

    requests_per_second: float = Field(5.0, gt=0)
    burst: int = Field(10, ge=1, description="Requests admitted at once after a pause.")
    daily_tokens: int = Field(2_000_000, ge=1, description="Prompt + generated tokens a UTC day.")


def default_models() -> list[ModelConfig]:
    """The embedded model on its default port (`python -m llm_gateway.embedded`)."""
    return [
        ModelConfig(
            name="qwen2.5-coder-0.5b",
            backend="embedded",
            url="http://127.0.0.1:8090",
            max_total_tokens=4096,
            default_max_new_tokens=512,
            max_new_tokens_limit=2048,
            max_concurrent_requests=4,
        )
    ]


class GatewaySettings(ServerSettings):
    """Models, resilience, quotas and checks of the gateway, plus the shared server settings."""

    model_config = SettingsConfigDict(
        env_prefix="NASFORGE_GATEWAY_", extra="ignore", populate_by_name=True
    )

    models: list[ModelConfig] = Field(
        default_factory=default_models, description="Served models (JSON in the environment)."
    )
    retry_attempts: int = Field(3, ge=1, le=10, description="Upstream tries when it is down.")
    retry_initial_backoff_seconds: float = Field(0.1, ge=0)
    retry_max_backoff_seconds: float = Field(2.0, ge=0)
    breaker_failure_threshold: int = Field(5, ge=1, description="Failures that open the breaker.")
    breaker_reset_seconds: float = Field(10.0, gt=0, description="Open time before a probe.")
    default_limits: TenantLimits = Field(
        default_factory=TenantLimits,
        description="Every tenant's rate and daily tokens unless tenant_limits or the "
        "registry (llm_tokens_per_day) set its own.",
    )
    tenant_limits: dict[str, TenantLimits] = Field(
        default_factory=dict,
        description="The gateway's own per-tenant settings, over default_limits: the request "
        "rate (requests_per_second, burst; the registry has no key for it) and daily_tokens, "
        "which applies only where the registry sets no llm_tokens_per_day (rpc/admission.py).",
    )
    usage_db: Path | None = Field(
        None,
        description="SQLite file of the tokens each tenant used each UTC day and of the "
        "running requests' holds (the quota ledger when NASFORGE_QUOTA_LEDGER is unset), so "
        "a restart keeps them, and gateways of one host sharing the file share the quota; "
        "unset: kept in memory only.",
    )
    quota_ledger: str = ledger_setting(
        "The shared quota ledger (env NASFORGE_QUOTA_LEDGER, as for every service): "
        "postgresql://... for replicas on any host (tables quota_*, beside search_core's), "
        "sqlite:///<path> or a path for one host; every gateway on it shares each tenant's "
        "daily tokens. Unset: usage_db, else this process alone, in memory."
    )
    metrics_tenant_cap: int = Field(
        20, ge=0, description="Configured tenants that get their own metric label; rest 'other'."
    )
    name_index_path: Path = Field(
        Path("var/torch_index.json"), description="Torch name index of the sandbox image."
    )
    extra_allowed_modules: list[str] = Field(
        default_factory=list, description="Widen the import allowlist (as the sandbox does)."
    )
    prompts_dir: Path | None = Field(None, description="Prompt library; unset: the built-in one.")
    record_mode: RecordMode = Field(
        "off",
        description="Answer recording (llm_gateway/replay.py), so a rerun can reproduce a "
        "search without the model: record: ask the model and keep each answer; replay: serve "
        "kept answers only, a request without one fails; record-missing: replay what is kept, "
        "ask the model and keep the rest.",
    )
    record_dir: Path | None = Field(
        None, description="Where recorded answers are kept, one JSON file each (record_mode)."
    )

    def ledger_url(self) -> str:
        """Where the daily tokens are counted: quota_ledger, else usage_db, else memory."""
        if self.quota_ledger:
            return self.quota_ledger
        return str(self.usage_db) if self.usage_db is not None else ""

    @model_validator(mode="after")
    def _record_dir_when_recording(self) -> "GatewaySettings":
        if self.record_mode != "off" and self.record_dir is None:
            raise ValueError(f"record_mode {self.record_mode} needs a record_dir")
        return self

    @field_validator("models")
    @classmethod
    def _unique_models(cls, value: list[ModelConfig]) -> list[ModelConfig]:
        names = [model.name for model in value]
        if len(set(names)) != len(names):
            raise ValueError("model names must be unique")
        return value

    @field_validator("tenant_limits")
    @classmethod
    def _tenant_names(cls, value: dict[str, TenantLimits]) -> dict[str, TenantLimits]:
        for tenant in value:
            if not is_valid_tenant_name(tenant):
                raise ValueError(f"invalid tenant name {tenant!r}")
        return value
