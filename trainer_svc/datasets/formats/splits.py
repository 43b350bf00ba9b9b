"""The Split kinds the formats return: pixels held in memory, or image files read on demand."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from trainer_svc.datasets.contents import DatasetError


class ArraySplit:
    """Classification items held as one uint8 array, [N, H, W, 3] (RGB) or [N, H, W]
    (grey), with their labels.

    The pickled formats (CIFAR, ImageNet16) and the idx files of (Fashion-)MNIST are small
    enough to hold whole, and are stored as arrays already; ``labels`` is the fast list
    ``labels_of`` looks for.
    """

    def __init__(self, images: np.ndarray, labels: Sequence[int]) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = np.ascontiguousarray(images)  # [N, H, W(, 3)] uint8
        self.labels = [int(x) for x in labels]

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, index: int) -> Image.Image:
        return Image.fromarray(self.images[index])

    def label(self, index: int) -> int:
        return self.labels[index]

    def captions(self, index: int) -> list[str]:
        raise DatasetError("a classification dataset has no captions")


def open_image(path: Path, mode: str) -> Image.Image:
    """The image file converted to ``mode`` ("L" or "RGB"), read whole and closed."""
    with Image.open(path) as f:
        return f.convert(mode)


class LabelledFilesSplit:
    """Classification items as image files with labels, each file read when asked for."""

    def __init__(self, paths: Sequence[Path], labels: Sequence[int], mode: str) -> None:
        self.paths = list(paths)
        self.labels = [int(x) for x in labels]
        self.mode = mode  # "L" or "RGB": what every image() is converted to

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> Image.Image:
        return open_image(self.paths[index], self.mode)

    def label(self, index: int) -> int:
        return self.labels[index]

    def captions(self, index: int) -> list[str]:
        raise DatasetError("a classification dataset has no captions")


class CaptionedFilesSplit:
    """Captioning items as RGB image files with their reference captions."""

    def __init__(self, items: Sequence[tuple[Path, list[str]]]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def image(self, index: int) -> Image.Image:
        return open_image(self.items[index][0], "RGB")

    def label(self, index: int) -> int:
        raise DatasetError("a captioning dataset has no class labels")

    def captions(self, index: int) -> list[str]:
        return list(self.items[index][1])
