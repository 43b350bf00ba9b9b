"""Settings of trainer_svc (env prefix NASFORGE_TRAINER_), read once in main."""

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from rpc.quota_ledger import ledger_setting
from rpc.settings import ServerSettings
from sandbox_runner.containers import RuntimeSetting
from sandbox_runner.namespace import expand_namespace


class TrainerSettings(ServerSettings):
    """Container limits, budgets, queue and data locations of the trainer."""

    model_config = SettingsConfigDict(
        env_prefix="NASFORGE_TRAINER_", extra="ignore", populate_by_name=True
    )

    image: str = Field("nasforge-runtime:cpu", description="Runtime image of training jobs.")
    namespace: str = Field(
        "nasforge-trainer",
        description="Label value of this trainer's containers (reaped at start-up); {hostname} "
        "is replaced by this host's name, so that replicas do not reap each other's.",
    )
    runtime: RuntimeSetting = Field(
        "auto",
        description="Container runtime of training jobs: runsc (gVisor), runc, or auto (runsc "
        "when the Docker engine lists it, else runc with a warning). An explicit runsc the "
        "engine lacks stops the service at start-up.",
    )
    gpu: bool = Field(False, description="Give jobs the GPUs (needs the NVIDIA container toolkit).")
    memory_bytes: int = Field(4 * 1024**3, ge=256 * 1024**2)
    cpus: float = Field(2.0, gt=0, le=256)
    pids_limit: int = Field(256, ge=16)
    gvisor_threads: int | None = Field(
        1,
        ge=1,
        description="Torch threads of a job under runsc; unset: one per CPU, as under runc. "
        "This gVisor build traps every thread wake-up (ptrace platform): measured here, 2 "
        "threads train at 0.17x runc's speed and 1 thread at 0.87x.",
    )
    output_cap_bytes: int = Field(
        8 * 1024**2,
        ge=64 * 1024,
        description="What a job may print (stdout and stderr), beyond its predictions.",
    )
    output_volume_bytes: int = Field(
        1024**3,
        ge=1024**2,
        description="Size of a job's /out (a tmpfs volume, so it counts as memory): the "
        "weights must fit; a job that writes more gets ENOSPC.",
    )
    data_root: Path = Field(Path("var"), description="Where npm and other dataset files lie.")
    cache_root: Path = Field(
        Path("var/prepared"),
        description="Prepared dataset cache; with prepared_volume, where that volume is "
        "mounted in this trainer's own container.",
    )
    prepared_volume: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]+$",
        description="Named Docker volume holding cache_root, mounted read-only at /data in "
        "training containers; unset: the prepared folder is bind-mounted from this host.",
    )
    labels_root: Path | None = Field(
        None,
        description="Where the held-out (validation and test) labels of prepared datasets "
        "are kept, outside cache_root so that no training container mounts them; unset: "
        "beside cache_root (var/prepared-labels). Trainer replicas should share it.",
    )
    registry_root: Path = Field(
        Path("var/datasets"),
        description="Records of registered datasets (one JSON file each); replicas share it.",
    )
    dataset_sources: Path | None = Field(
        None,
        description="When set, datasets may be registered only from files below this folder "
        "(compose mounts the host's datasets folder there); unset: any path this trainer "
        "can read, as on one machine.",
    )
    weights_root: Path = Field(
        Path("var/weights"),
        description="Best-epoch weights kept here (<job_id>.pt beside <job_id>.json, which "
        "says whose they are, their sha256 and, once retention removed them, when and why); "
        "replicas may share it.",
    )
    weights_retention_bytes: int | None = Field(
        20 * 1024**3,
        ge=1,
        description="Most bytes of weights kept in weights_root: after each job's weights are "
        "written, the oldest others are removed until the total fits (the newest file is "
        "always kept). Unset (empty): no bound on size.",
    )
    weights_retention_count: int | None = Field(
        None,
        ge=1,
        description="Most weights files kept in weights_root, removed oldest first like "
        "weights_retention_bytes. Unset: no bound on the count.",
    )
    max_epochs: int = Field(200, ge=1)
    epoch_budget_seconds: float = Field(900.0, gt=0, description="Default time per epoch.")
    job_budget_seconds: float = Field(7200.0, gt=0, description="Default time per job.")
    max_epoch_budget_seconds: float = Field(
        3600.0, gt=0, description="Most time per epoch a request may ask for; more is refused."
    )
    max_job_budget_seconds: float = Field(
        6 * 3600.0, gt=0, description="Most time per job a request may ask for; more is refused."
    )
    ready_timeout_seconds: float = Field(60.0, gt=0)
    max_concurrent_jobs: int = Field(1, ge=1, description="Training containers at once.")
    max_queued_jobs: int = Field(8, ge=0, description="Jobs waiting before RESOURCE_EXHAUSTED.")
    per_tenant_trainings: int | None = Field(
        None,
        ge=0,
        description="A tenant's jobs queued or running at once when the tenant registry sets "
        "no concurrent_trainings; unset: only the queue bound. Counted in the quota ledger: "
        "across every replica on a shared one.",
    )
    per_tenant_gpu_minutes_per_day: float | None = Field(
        None,
        ge=0,
        description="A tenant's GPU wall minutes a UTC day (with gpu=true) when the registry "
        "sets no gpu_minutes_per_day; unset: no limit. A job is admitted when its time limit "
        "(job_budget_seconds) fits in what is left of the day, and is charged its real wall "
        "minutes when it ends; counted in the quota ledger, across every replica on a shared "
        "one (NASFORGE_QUOTA_LEDGER), else per trainer replica.",
    )
    quota_ledger: str = ledger_setting(
        "The shared quota ledger (env NASFORGE_QUOTA_LEDGER, as for every service) that counts "
        "each tenant's trainings in flight and GPU minutes: postgresql://... for replicas on "
        "any host, sqlite:///<path> or a path for one host. Unset: this process alone, in "
        "memory (a restart forgets the day's GPU minutes)."
    )
    train_samples: int = Field(10_000, ge=1)
    validation_samples: int = Field(1_000, ge=1)
    test_samples: int = Field(2_000, ge=1)
    batch_size: int = Field(64, ge=1, le=1024, description="Batch when the task spec has none.")

    @field_validator("namespace")
    @classmethod
    def _expand_namespace(cls, value: str) -> str:
        return expand_namespace(value)

    @field_validator("labels_root", mode="before")
    @classmethod
    def _empty_labels_root_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("weights_retention_bytes", "weights_retention_count", mode="before")
    @classmethod
    def _empty_retention_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("prepared_volume", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value
