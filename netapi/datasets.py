"""A dataset as every service sees it: what the trainer verified when it was registered.

The trainer keeps these records (trainer_svc.datasets.registry); search_core reads them
over gRPC to give a search its shapes and to refuse an unknown dataset before any
candidate is generated.
"""

from dataclasses import asdict, dataclass, field
from typing import Literal

RECORD_FORMAT = 1
Task = Literal["img-classification", "img-captioning"]

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CAPTIONS = "fashion-captions"


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


def builtin_records() -> dict[str, DatasetRecord]:
    """The datasets every trainer has, described without their files (path left empty:
    where they lie is the trainer's to say)."""
    records = {
        name: DatasetRecord(
            name=name,
            format=name,
            path="",
            task="img-classification",
            channels=1,
            classes=classes,
            counts={"train": 60_000, "test": 10_000},
            native_size=(28, 28),
            digest=f"builtin:{name}",
            builtin=True,
            outputs=len(classes),
        )
        for name, classes in (("fashion-mnist", FASHION_MNIST_CLASSES), ("mnist", MNIST_CLASSES))
    }
    records[FASHION_CAPTIONS] = DatasetRecord(
        name=FASHION_CAPTIONS,
        format=FASHION_CAPTIONS,
        path="",
        task="img-captioning",
        channels=3,
        classes=(),
        counts={},
        native_size=(56, 56),
        digest=f"builtin:{FASHION_CAPTIONS}",
        builtin=True,
        notes=("generated at the sizes each job asks for, from Fashion-MNIST",),
        default_transform="norm_64",
    )
    return records


BUILTIN = tuple(builtin_records())
