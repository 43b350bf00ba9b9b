"""What a dataset reader gives the trainer: splits of images with labels or captions.

Every format (trainer_svc.datasets.formats) opens the user's files into one
``DatasetContents``; registration, verification and preparation read that and nothing else.
Items are read lazily (``image(i)``), so a registered COCO or image folder is never held in
memory whole: preparation resizes only the items a job uses.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from PIL import Image

from netapi.datasets import Task

SPLITS = ("train", "val", "test")


class DatasetError(ValueError):
    """A dataset that is unknown, absent, malformed, or too small for the request.

    The message names the dataset or file and says what to do about it.
    """


class Split(Protocol):
    """One split of a dataset: items 0..len-1."""

    def __len__(self) -> int: ...

    def image(self, index: int) -> Image.Image:
        """The item's image, "L" (grey) or "RGB", at its stored size."""
        ...

    def label(self, index: int) -> int:
        """Classification: the class index in 0..len(classes)-1."""
        ...

    def captions(self, index: int) -> list[str]:
        """Captioning: the item's reference captions, raw, in annotation order."""
        ...


@dataclass(frozen=True)
class DatasetContents:
    """A dataset as read from its files.

    ``splits`` always has "train" and "test"; "val" only where the format defines one
    (Karpathy's COCO splits): otherwise preparation splits validation off "train", seeded.
    ``files`` maps each file the reader read (relative to the dataset's path) to its
    sha256; ``published`` says, per archive file with a published checksum, whether it
    matched ("matches the published md5" / "differs from the published md5: ...").
    """

    format: str
    task: Task
    splits: dict[str, Split]
    channels: int  # 1 or 3: the channels of every image()
    classes: tuple[str, ...] = ()  # classification: names in label order
    native_size: tuple[int, int] | None = None  # (H, W) when every image has it
    files: dict[str, str] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # anything a user should know (e.g. "Karpathy splits")

    def counts(self) -> dict[str, int]:
        return {name: len(split) for name, split in self.splits.items()}


class Reader(Protocol):
    """A format: ``open(path)`` -> contents, or DatasetError saying what is wrong."""

    name: str
    task: Task
    summary: str  # one line for `nasforge data formats` and error messages

    def open(self, path: str) -> DatasetContents: ...

    def download(self, root: str | Path) -> Path:
        """Fetch the published files into ``root`` and return the path to register; a
        DatasetError saying what to fetch where the format or the network cannot."""
        ...


def labels_of(split: Split) -> Sequence[int]:
    """Every label of a classification split (readers may override with a faster list)."""
    fast = getattr(split, "labels", None)
    if fast is not None:
        return fast
    return [split.label(i) for i in range(len(split))]
