"""A dataset as every service sees it: what the trainer verified when it was registered.

The trainer keeps these records (trainer_svc.datasets.registry); search_core reads them
over gRPC to give a search its shapes and to refuse an unknown dataset before any
candidate is generated.
"""

from dataclasses import asdict, dataclass, field
from typing import Literal

RECORD_FORMAT = 1
Task = Literal["img-classification", "img-captioning"]


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset the trainer can prepare: built in, or registered from the user's files."""

    name: str
    format: str
    path: str
    task: Task
    channels: int
    classes: tuple[str, ...]
    counts: dict[str, int]
    native_size: tuple[int, int] | None
    digest: str
    builtin: bool = False
    files: dict[str, str] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    added_at: float = 0.0
    # Classes, or the vocabulary of the first preparation (captioning); 0 until prepared.
    outputs: int = 0
    default_transform: str = "norm_32"

    def to_json(self) -> dict:
        return {"record_format": RECORD_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, content: dict) -> "DatasetRecord":
        values = {k: v for k, v in content.items() if k != "record_format"}
        values["classes"] = tuple(values["classes"])
        values["notes"] = tuple(values["notes"])
        if values["native_size"] is not None:
            values["native_size"] = tuple(values["native_size"])
        return cls(**values)
