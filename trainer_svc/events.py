"""A training job and the events it streams: accepted, one per epoch, finished."""

from dataclasses import dataclass, field

from netapi.outcomes import Outcome
from netapi.tasks import TaskSpec


@dataclass(frozen=True)
class TrainJob:
    """What to train, on what, for how long."""

    code: str
    spec: TaskSpec  # dataset, transform, batch (in_shape[0]) and hyperparameters
    epochs: int
    seed: int
    epoch_budget_seconds: float
    job_budget_seconds: float
    train_samples: int
    validation_samples: int
    test_samples: int
    candidate_id: str = ""


@dataclass(frozen=True)
class Accepted:
    job_id: str
    queue_position: int
    seed: int


@dataclass(frozen=True)
class EpochDone:
    job_id: str
    epoch: int
    train_loss: float
    validation_metric: float
    samples_per_second: float
    wall_time_ms: float


@dataclass(frozen=True)
class Finished:
    job_id: str
    outcome: Outcome
    seed: int
    best_epoch: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    error_type: str = ""
    error_message: str = ""
    wall_time_ms: float = 0.0
    weights_path: str = ""
    weights_sha256: str = ""  # of the file at weights_path
    weights_size_bytes: int = 0
    runtime_image_digest: str = ""  # the image the container ran ("sha256:...")
    dataset_digest: str = ""  # of the prepared files it trained and was scored on

    def to_dict(self) -> dict:
        return {
            "job_id": self.job_id,
            "outcome": self.outcome.value,
            "seed": self.seed,
            "best_epoch": self.best_epoch,
            "scores": self.scores,
            "error": (
                {"type": self.error_type, "message": self.error_message}
                if self.error_message
                else None
            ),
            "wall_time_ms": round(self.wall_time_ms, 1),
            "weights_path": self.weights_path,
            "weights_sha256": self.weights_sha256,
            "weights_size_bytes": self.weights_size_bytes,
            "runtime_image_digest": self.runtime_image_digest,
            "dataset_digest": self.dataset_digest,
        }


TrainEvent = Accepted | EpochDone | Finished
